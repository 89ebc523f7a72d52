"""The personal account's ledger: locks, entries, reversing entries. Services join the caller's transaction."""

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, DomainError
from core.money import to_fen
from core.sql import Statement, columns, fields, for_update, insert, instance, one_of, statement

from ..models import (
    LedgerEntry,
    PersonalAccount,
)


class InsufficientBalance(DomainError):
    code = "insufficient_balance"
    default_message = _("The personal account balance is not enough.")


def account_lock(*, account_ids: list[int]) -> dict[int, PersonalAccount]:
    """Lock accounts in one fixed order (by pk) so two requests never deadlock."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    # Fixed SQL (core.sql): every settlement that pays from an account runs this.
    where, params = one_of('a."id"', ids)
    sql = (f'SELECT {columns(PersonalAccount, "a")} FROM "{PersonalAccount._meta.db_table}" a '
           f'WHERE {where} ORDER BY a."id"{for_update()}')
    locked = (instance(PersonalAccount, row) for row in statement(sql, tuple(fields(PersonalAccount))).rows(params))
    return {account.pk: account for account in locked}


# Move the balance in the database, only if the result stays at or above zero and a closed
# account is not debited (a reversal may still refund it); the new balance comes back in the
# same statement. No row back means the move was refused: the caller then finds out why.
# ROUND(…, 2): exact on PostgreSQL (numeric); on SQLite, whose decimal columns hold floats,
# it keeps the stored balance at the fen instead of letting 0.70 + 0.10 become 0.7999….
_ACCOUNT_MOVE = Statement(
    f'''UPDATE "{PersonalAccount._meta.db_table}" SET "balance" = ROUND("balance" + %s, 2)
        WHERE "id" = %s AND ROUND("balance" + %s, 2) >= 0 AND ("status" = %s OR %s)
        RETURNING "balance"''',
    [PersonalAccount._meta.get_field("balance")],
)


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
    closed_account_payout: bool = False,
) -> LedgerEntry:
    """Post one signed entry and update the cached balance.

    The caller must hold the account's row lock (`account_lock`) inside its own
    transaction; the balance moves in the database (one UPDATE … RETURNING), never from a value
    held in memory, and a move that would go below zero or debit a closed account changes
    nothing and raises.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("account_post_entry must run inside a transaction holding the account lock")
    amount = to_fen(amount)
    if amount == 0:
        raise ValueError("a ledger entry moves money; zero is not an entry")
    # A closed account receives refunds and reversals; it is debited only to pay out an
    # approved late refund (members.services.withdrawals.account_late_refund_approve).
    may_move_closed = amount > 0 or kind == LedgerEntry.Kind.REVERSAL or closed_account_payout
    moved = _ACCOUNT_MOVE.first([amount, account.pk, amount, PersonalAccount.Status.OPEN, may_move_closed])
    if moved is None:
        balance, status = PersonalAccount.objects.filter(pk=account.pk).values_list("balance", "status").get()
        if status != PersonalAccount.Status.OPEN and not may_move_closed:
            raise Conflict(_("The personal account is closed."), code="account_closed")
        raise InsufficientBalance(details={"balance": str(balance), "amount": str(-amount)})
    new_balance = moved[0]
    entry = LedgerEntry(
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
    insert([entry])  # a new row only: LedgerEntry.save's guard is against changing one
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


# Family links (家庭共济) --------------------------------------------------------------------


