"""The national interface's wire format (interfaces/nhsa.md): reading fields of a request's
`input` (amounts as numbers or strings, times as `yyyy-MM-dd HH:mm:ss` or ISO 8601) and
writing answers with amounts as JSON numbers that keep their two decimals."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.idnumber import mask_id_number

FEN = Decimal("0.01")
RATIO = Decimal("0.0001")


class GatewayError(Exception):
    """A refusal answered as `infcode: -1` with a Chinese `err_msg` a cashier can act on."""

    def __init__(self, message, **params):
        self.message = message
        self.params = params
        super().__init__(str(message))

    def text(self) -> str:
        return str(self.message).format(**self.params)[:500]


def node(parent: dict, name: str, *, kind=dict, where: str = "input"):
    value = parent.get(name) if isinstance(parent, dict) else None
    if not isinstance(value, kind):
        raise GatewayError(_("The message has no {field} node: send {where}.{field}."), field=name, where=where)
    return value


def text(data: dict, field: str, *, required: bool = True, max_length: int = 200, where: str = "") -> str:
    value = data.get(field)
    if value is None or value == "":
        if required:
            raise GatewayError(_("{where}{field} is required."), field=field, where=where)
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise GatewayError(_("{where}{field} must be text."), field=field, where=where)
    value = str(value).strip()
    if len(value) > max_length:
        raise GatewayError(_("{where}{field} is longer than {max_length} characters."), field=field, where=where, max_length=max_length)
    return value


def amount(data: dict, field: str, *, required: bool = True, places: int = 2, where: str = "") -> Decimal | None:
    """An amount sent as a number or a string; at most `places` decimals (trailing zeros aside)."""
    value = data.get(field)
    if value is None or value == "":
        if required:
            raise GatewayError(_("{where}{field} is required."), field=field, where=where)
        return None
    if isinstance(value, bool):
        raise GatewayError(_("{where}{field} is not a number."), field=field, where=where)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise GatewayError(_("{where}{field} is not a number."), field=field, where=where) from None
    if not number.is_finite() or abs(number) >= Decimal("1e12"):
        raise GatewayError(_("{where}{field} is not a number."), field=field, where=where)
    quantum = Decimal(1).scaleb(-places)
    if number != number.quantize(quantum):
        raise GatewayError(_("{where}{field} has more than {places} decimals."), field=field, where=where, places=places)
    return number.quantize(quantum)


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def moment(data: dict, field: str, *, required: bool = True, where: str = "") -> datetime | None:
    """A time `yyyy-MM-dd HH:mm:ss` (Beijing time), or ISO 8601 as some clients write it."""
    value = data.get(field)
    if value is None or value == "":
        if required:
            raise GatewayError(_("{where}{field} is required."), field=field, where=where)
        return None
    if isinstance(value, str):
        raw = value.strip()
        parsed = None
        for pattern in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(raw, pattern)
                break
            except ValueError:
                continue
        if parsed is None:
            try:
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                parsed = None
        if parsed is not None and 1900 < parsed.year < 2200:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed)
            return parsed
    raise GatewayError(_("{where}{field} is not a time (yyyy-MM-dd HH:mm:ss)."), field=field, where=where)


def day(data: dict, field: str, *, required: bool = True, where: str = "") -> date | None:
    value = moment(data, field, required=required, where=where)
    return timezone.localtime(value).date() if value is not None else None


def money(value) -> Decimal:
    return Decimal(value).quantize(FEN) if value is not None else None


def fmt_time(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def dumps(value) -> str:
    """JSON with Decimals written as numbers exactly as they are (12.30 stays 12.30)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(key), ensure_ascii=False)}:{dumps(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value, ensure_ascii=False)


def loads(raw: str | bytes):
    return json.loads(raw, parse_float=Decimal)


ID_NUMBER = re.compile(r"^\d{17}[\dXx]$|^\d{15}$")
ID_KEYS = {"certno", "mdtrt_cert_no", "psn_cert_no"}


def masked(value, *, decimals_as_text: bool = True):
    """A copy with every ID number masked (logs); Decimals as text (JSON-storable) unless kept."""
    if isinstance(value, dict):
        return {
            key: (mask_id_number(str(item)) if key in ID_KEYS and isinstance(item, str)
                  else masked(item, decimals_as_text=decimals_as_text))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item, decimals_as_text=decimals_as_text) for item in value]
    if isinstance(value, Decimal):
        return format(value, "f") if decimals_as_text else value
    if isinstance(value, str) and ID_NUMBER.match(value):
        return mask_id_number(value)
    return value


def unmask_certno(value, id_number: str):
    """The stored answer's masked `certno` put back (a repeat answers exactly as the first)."""
    if isinstance(value, dict):
        return {key: (id_number if key == "certno" and item else unmask_certno(item, id_number)) for key, item in value.items()}
    if isinstance(value, list):
        return [unmask_certno(item, id_number) for item in value]
    return value
