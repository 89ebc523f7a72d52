"""Money: Decimal yuan, exact to the fen; one rounding rule for the whole system."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import models

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(value) -> Decimal:
    """Round to the fen, half up (四舍五入): the only rounding rule Gongji uses."""
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    """`percent` % of `amount`, rounded once to the fen."""
    return to_fen(Decimal(amount) * Decimal(percent) / Decimal(100))


class MoneyField(models.DecimalField):
    """The one field for money: 14 digits, 2 decimals (yuan.fen)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        path = "core.money.MoneyField"
        return name, path, args, kwargs


class PercentField(models.DecimalField):
    """A ratio stored as a percentage (70 means 70%), two decimals."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 5)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        path = "core.money.PercentField"
        return name, path, args, kwargs


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_GROUP_UNITS = ("", "万", "亿", "万亿")


def _four_digits(group: int) -> str:
    """0-9999 in capitals, with 零 for inner zeros (1010 → 壹仟零壹拾)."""
    text, pending_zero = "", False
    for position in range(3, -1, -1):
        digit = group // 10**position % 10
        if digit == 0:
            pending_zero = bool(text)
            continue
        if pending_zero:
            text += "零"
            pending_zero = False
        text += _DIGITS[digit] + _SMALL_UNITS[position]
    return text


def to_capital(amount) -> str:
    """An amount in the capital numerals of financial documents (大写金额): 1,234.50 → 壹仟贰佰叁拾肆元伍角整.

    Written as the People's Bank of China's rules for filling in bills ask (《支付结算办法》附件
    正确填写票据和结算凭证的基本规定): 整 after 元 or 角 when there is no 分; 零 for zeros inside
    the number; negative amounts start with 负.
    """
    amount = to_fen(amount)
    sign = "负" if amount < 0 else ""
    fen_total = int(abs(amount) * 100)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    if fen_total == 0:
        return "零元整"
    groups, text = [], ""
    while yuan:
        groups.append(yuan % 10000)
        yuan //= 10000
    needs_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            needs_zero = bool(text)
            continue
        if text and (needs_zero or group < 1000):
            text += "零"
        text += _four_digits(group) + _GROUP_UNITS[index]
        needs_zero = False
    if text:
        text += "元"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif fen and text:
        text += "零"
    if fen:
        text += _DIGITS[fen] + "分"
    else:
        text += "整"
    return sign + text
