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
