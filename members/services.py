"""State changes of members and their personal accounts. One transaction each."""

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError
from core.money import to_fen

from .models import LedgerEntry, PersonalAccount


class InsufficientBalance(DomainError):
    code = "insufficient_balance"
    default_message = _("The personal account balance is not enough.")


def account_lock(*, account_ids: list[int]) -> dict[int, PersonalAccount]:
    """Lock accounts in one fixed order (by pk) so two requests never deadlock."""
    locked = (
        PersonalAccount.objects.filter(pk__in=account_ids).order_by("pk").select_for_update(of=("self",))
    )
    return {account.pk: account for account in locked}


def account_post_entry(
    *,
    account: PersonalAccount,
    kind: str,
    amount: Decimal,
    reference: str = "",
    memo: str = "",
    period: date | None = None,
    reverses: LedgerEntry | None = None,
    user=None,
) -> LedgerEntry:
    """Post one signed entry and update the cached balance.

    The caller must hold the account's row lock (`account_lock`) inside its own
    transaction; the balance is re-read from the locked row, never trusted from memory.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("account_post_entry must run inside a transaction holding the account lock")
    amount = to_fen(amount)
    if amount == 0:
        raise ValueError("a ledger entry moves money; zero is not an entry")
    current = PersonalAccount.objects.filter(pk=account.pk).values_list("balance", "status").get()
    balance, status = current
    if status != PersonalAccount.Status.OPEN and amount < 0 and kind != LedgerEntry.Kind.REVERSAL:
        raise Conflict(_("The personal account is closed."), code="account_closed")
    new_balance = balance + amount
    if new_balance < 0:
        raise InsufficientBalance(details={"balance": str(balance), "amount": str(-amount)})
    entry = LedgerEntry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=new_balance,
        period=period,
        reference=reference,
        memo=memo,
        reverses=reverses,
        created_by=user if getattr(user, "pk", None) else None,
    )
    PersonalAccount.objects.filter(pk=account.pk).update(balance=new_balance)
    account.balance = new_balance
    return entry


def account_reverse_entry(*, entry: LedgerEntry, reference: str = "", memo: str = "", user=None) -> LedgerEntry:
    """Correct a mistake: post the opposite amount, linked to the entry it reverses.

    Reversing twice returns the first reversal.
    """
    existing = LedgerEntry.objects.filter(reverses=entry).first()
    if existing is not None:
        return existing
    return account_post_entry(
        account=entry.account,
        kind=LedgerEntry.Kind.REVERSAL if entry.kind != LedgerEntry.Kind.SETTLEMENT_PAYMENT
        else LedgerEntry.Kind.SETTLEMENT_REFUND,
        amount=-entry.amount,
        reference=reference or entry.reference,
        memo=memo,
        reverses=entry,
        user=user,
    )
