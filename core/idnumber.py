"""Resident identity numbers (公民身份号码), GB 11643-1999."""

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


@dataclass(frozen=True)
class IdNumberFacts:
    birth_date: date
    sex: str  # "M" or "F"


def check_character(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def parse_id_number(value: str, *, today: date | None = None) -> IdNumberFacts:
    """Validate an 18-character ID number and return the birth date and sex it encodes.

    Raises ValidationError with a message naming what is wrong.
    """
    value = (value or "").strip().upper()
    if len(value) != 18:
        raise ValidationError(_("ID number must have 18 characters."), code="id_length")
    if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        raise ValidationError(
            _("ID number must be 17 digits followed by a digit or X."), code="id_format"
        )
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise ValidationError(_("ID number holds no real birth date."), code="id_birth_date") from None
    today = today or date.today()
    if born > today or born.year < 1880:
        raise ValidationError(_("ID number's birth date is impossible."), code="id_birth_date")
    if check_character(value[:17]) != value[17]:
        raise ValidationError(_("ID number's check character is wrong."), code="id_checksum")
    sex = "M" if int(value[16]) % 2 == 1 else "F"
    return IdNumberFacts(birth_date=born, sex=sex)


def normalize_id_number(value: str) -> str:
    return (value or "").strip().upper()


def validate_id_number(value: str) -> None:
    parse_id_number(value)


def mask_id_number(value: str) -> str:
    """370402********1234: the region prefix and the last four only (lists and logs)."""
    value = value or ""
    if len(value) < 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def make_id_number(prefix6: str, born: date, sequence: int) -> str:
    """A valid ID number (for demo data, tests and benchmarks): sequence 0-999."""
    first17 = f"{prefix6}{born:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_character(first17)
