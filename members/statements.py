"""A member's yearly account statement: opening balance, credits, payments, closing balance,
and the payments by kind of use (own medical costs and purchases, relatives, premiums)."""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from django.utils import timezone

from .models import LedgerEntry, PersonalAccount

CREDITS = {LedgerEntry.Kind.MONTHLY_CREDIT, LedgerEntry.Kind.CIVIL_SERVANT_SUBSIDY, LedgerEntry.Kind.OPENING_BALANCE}
PAYMENTS = {LedgerEntry.Kind.SETTLEMENT_PAYMENT, LedgerEntry.Kind.FAMILY_SHARING_PAYMENT, LedgerEntry.Kind.PREMIUM_PAYMENT}

# Kinds of use (Zaozhuang 第八条, Ziyang 第六条): the member's own medical costs and purchases
# (pooling settlements' account part and account-only sales), a spouse's, parent's or child's
# (家庭共济, relatives in the registry or outside it), and premiums. A refund or reversal of a
# payment counts against the use it reverses.
OWN, RELATIVES, PREMIUMS = "own", "relatives", "premiums"
USE_OF = {
    LedgerEntry.Kind.SETTLEMENT_PAYMENT: OWN,
    LedgerEntry.Kind.FAMILY_SHARING_PAYMENT: RELATIVES,
    LedgerEntry.Kind.PREMIUM_PAYMENT: PREMIUMS,
}


@dataclass
class Statement:
    account: PersonalAccount
    year: int
    opening: Decimal
    entries: list = field(default_factory=list)
    credits: Decimal = Decimal("0.00")
    payments: Decimal = Decimal("0.00")
    other: Decimal = Decimal("0.00")  # refunds, reversals, withdrawals, transfer, inheritance
    # Net amount spent per kind of use (positive; refunds of that use taken off).
    uses: dict = field(default_factory=lambda: {OWN: Decimal("0.00"), RELATIVES: Decimal("0.00"), PREMIUMS: Decimal("0.00")})

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
    entries = (account.entries.filter(created_at__gte=_start(year), created_at__lt=_start(year + 1))
               .select_related("reverses").order_by("pk"))
    for entry in entries:
        statement.entries.append(entry)
        use = USE_OF.get(entry.kind) or (USE_OF.get(entry.reverses.kind) if entry.reverses_id else None)
        if use is not None:
            statement.uses[use] -= entry.amount
        if entry.kind in CREDITS:
            statement.credits += entry.amount
        elif entry.kind in PAYMENTS:
            statement.payments += entry.amount
        else:
            statement.other += entry.amount
    return statement
