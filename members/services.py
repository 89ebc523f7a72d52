"""State changes of members and their personal accounts. One transaction each."""

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.errors import Conflict, DomainError
from core.money import to_fen

from .models import FamilyLink, LedgerEntry, Member, PersonalAccount


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


# Family links (家庭共济) --------------------------------------------------------------------


def family_link_check(*, member, relative, relation: str) -> None:
    """Refuse a link that would break the family rules; raise Conflict naming the rule.

    A link is never to oneself, a pair is linked once, and each side has at most one
    spouse at a time. Called by `family_link_create` and by forms before they save.
    """
    if member.pk is not None and member.pk == relative.pk:
        raise Conflict(_("A member cannot be linked to themselves."), code="family_link_self",
                       details={"relative": _("the member themselves")})
    if relation not in FamilyLink.Relation.values:
        raise DomainError(_("Unknown relation."), code="invalid", details={"relation": relation})
    if member.pk is not None and FamilyLink.objects.filter(
        Q(member=member, relative=relative) | Q(member=relative, relative=member)
    ).exists():
        raise Conflict(_("These two members are already linked."), code="family_link_exists")
    if relation == FamilyLink.Relation.SPOUSE:
        for side in (member, relative):
            if side.pk is not None and FamilyLink.objects.filter(
                member=side, relation=FamilyLink.Relation.SPOUSE
            ).exists():
                raise Conflict(
                    _("%(member)s already has a spouse.") % {"member": side},
                    code="family_link_second_spouse",
                )


@transaction.atomic
def family_link_create(*, member, relative, relation: str, user=None):
    """Link two members both ways: `relation` is what the relative is to the member,
    and the inverse link (parent ↔ child, spouse ↔ spouse) is added with it.

    Not durable: the admin's change form, which already holds a transaction, calls it
    while it saves the member page.
    """
    # Lock both members (fixed order) so two clerks cannot each add a spouse at once.
    list(Member.objects.filter(pk__in=[member.pk, relative.pk]).order_by("pk").select_for_update())
    family_link_check(member=member, relative=relative, relation=relation)
    link = FamilyLink.objects.create(member=member, relative=relative, relation=relation)
    FamilyLink.objects.create(member=relative, relative=member, relation=FamilyLink.INVERSE[relation])
    audit(actor=user, action="family_link.create", target=link, label=f"{member} → {relative}",
          member_id=member.pk, relative_id=relative.pk, relation=relation)
    return link


@transaction.atomic
def family_link_delete(*, link, user=None) -> None:
    """Remove a family link and its inverse together (a link is never one-sided)."""
    pair = FamilyLink.objects.filter(
        Q(member_id=link.member_id, relative_id=link.relative_id)
        | Q(member_id=link.relative_id, relative_id=link.member_id)
    )
    audit(actor=user, action="family_link.delete", target=link,
          member_id=link.member_id, relative_id=link.relative_id, relation=link.relation)
    pair.delete()
