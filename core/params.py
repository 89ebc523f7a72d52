"""Parsing of query parameters, the one place that does it (API, portal and admin).

A parameter is plain ASCII decimal digits within a range, or it is refused: `int("²")` and
`"٣".isdigit()` disagree, a 30-digit page overflows the database's integers, a year past 9999
is not a date. The API refuses with a DomainError (400, the error shape, naming the
parameter); pages that are not the API fall back to the default (`*_or_default`).
"""

from __future__ import annotations

import re
from datetime import date

from django.utils.translation import gettext_lazy as _

from .errors import DomainError

_DIGITS = re.compile(r"[0-9]{1,18}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{1,2})")

# Years the system has anything to say about (policies start in 2021; members are born from
# 1900): anything else is a typo or an attack.
YEAR_MIN, YEAR_MAX = 1900, 2199
# The deepest page a list offers (pages are at most a few hundred rows; beyond this is a scan).
PAGE_MAX = 100_000
OFFSET_MAX = 10_000_000


class InvalidParameter(DomainError):
    code = "invalid_parameter"
    default_message = _("A query parameter is not valid.")


def _shown(raw) -> str:
    text = str(raw)
    return text if len(text) <= 40 else text[:40] + "…"


def int_param(raw, *, name: str, low: int, high: int, default: int | None = None) -> int | None:
    """`raw` (a string or None) as an int in [low, high]; `default` when absent or empty."""
    if raw is None or raw == "":
        return default
    if not isinstance(raw, str) or not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise InvalidParameter(
            _("The parameter %(name)s must be a whole number from %(low)s to %(high)s.") % {"name": name, "low": low, "high": high},
            details={name: _shown(raw), "min": low, "max": high},
        )
    return int(raw)


def int_or_default(raw, *, low: int, high: int, default: int) -> int:
    """For pages that are not the API: a bad value is read as the default."""
    try:
        return int_param(raw, name="value", low=low, high=high, default=default)
    except InvalidParameter:
        return default


def year_param(raw, *, name: str = "year", default: int | None = None) -> int | None:
    return int_param(raw, name=name, low=YEAR_MIN, high=YEAR_MAX, default=default)


def year_or_default(raw, default: int) -> int:
    return int_or_default(raw, low=YEAR_MIN, high=YEAR_MAX, default=default)


def page_or_default(raw, default: int = 1) -> int:
    return int_or_default(raw, low=1, high=PAGE_MAX, default=default)


def month_param(raw, *, name: str = "month") -> date:
    """'2026-03' -> date(2026, 3, 1) within the years above."""
    match = _MONTH.fullmatch(raw.strip()) if isinstance(raw, str) else None
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if YEAR_MIN <= year <= YEAR_MAX and 1 <= month <= 12:
            return date(year, month, 1)
    raise InvalidParameter(_("The month is not valid (YYYY-MM)."), code="invalid_month", details={name: _shown(raw)})


# Dates at the edge of the calendar (0001-01-01, 9999-12-31) overflow the day arithmetic that
# follows (the next day, a local-time bound): date fields of forms and API inputs accept the
# years above only.
def _check_year(value):
    from django.core.exceptions import ValidationError

    if value is not None and not YEAR_MIN <= value.year <= YEAR_MAX:
        raise ValidationError(_("The date must be between %(low)s and %(high)s.") % {"low": f"{YEAR_MIN}-01-01", "high": f"{YEAR_MAX}-12-31"},
                              code="date_out_of_range")


def bounded_date_form_field(**kwargs):
    from django import forms

    return forms.DateField(validators=[_check_year], **kwargs)


def bounded_date_serializer_field(**kwargs):
    from rest_framework import serializers

    return serializers.DateField(validators=[_check_year], **kwargs)
