"""A member's yearly account statement: opening balance, credits, payments, closing balance."""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.utils import timezone

from .models import LedgerEntry, PersonalAccount

CREDITS = {LedgerEntry.Kind.MONTHLY_CREDIT, LedgerEntry.Kind.CIVIL_SERVANT_SUBSIDY, LedgerEntry.Kind.OPENING_BALANCE}
PAYMENTS = {LedgerEntry.Kind.SETTLEMENT_PAYMENT, LedgerEntry.Kind.FAMILY_SHARING_PAYMENT, LedgerEntry.Kind.PREMIUM_PAYMENT}


@dataclass
class Statement:
    account: PersonalAccount
    year: int
    opening: Decimal
    entries: list = field(default_factory=list)
    credits: Decimal = Decimal("0.00")
    payments: Decimal = Decimal("0.00")
    other: Decimal = Decimal("0.00")  # refunds, reversals, withdrawals, transfer, inheritance

    @property
    def closing(self) -> Decimal:
        return self.opening + self.credits + self.payments + self.other


def _start(year: int) -> datetime:
    return timezone.make_aware(datetime.combine(date(year, 1, 1), time.min))


def account_statement(account: PersonalAccount, year: int) -> Statement:
    """Entries posted in the calendar year (Asia/Shanghai); the opening balance is the balance
    after the last entry posted before it."""
    before = account.entries.filter(created_at__lt=_start(year)).order_by("-pk").first()
    statement = Statement(account=account, year=year, opening=before.balance_after if before else Decimal("0.00"))
    entries = account.entries.filter(created_at__gte=_start(year), created_at__lt=_start(year + 1)).order_by("pk")
    for entry in entries:
        statement.entries.append(entry)
        if entry.kind in CREDITS:
            statement.credits += entry.amount
        elif entry.kind in PAYMENTS:
            statement.payments += entry.amount
        else:
            statement.other += entry.amount
    return statement
