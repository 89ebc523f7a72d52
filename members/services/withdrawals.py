"""Withdrawals (账户支取): proposed by one case worker, approved by another."""

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError
from core.idnumber import mask_id_number, normalize_id_number, parse_id_number
from core.money import to_fen
from core.roles import Role, ensure_separated, require_role

from ..models import (
    AccountDecision,
    LateRefund,
    LedgerEntry,
    Member,
    PersonalAccount,
)
from .ledger import account_lock, account_post_entry
from .uses import UseRefused


def _clean_heirs(heirs) -> list[dict]:
    if not isinstance(heirs, list) or not heirs:
        raise DomainError(_("Record at least one heir."), code="invalid_heirs")
    cleaned, total = [], Decimal(0)
    for index, heir in enumerate(heirs):
        try:
            id_number = normalize_id_number(str(heir.get("id_number", "")))
            parse_id_number(id_number)
            share = Decimal(str(heir.get("share_percent")))
            name = str(heir["name"]).strip()
        except (KeyError, ArithmeticError, TypeError, ValueError, DjangoValidationError, AttributeError):
            raise DomainError(_("Each heir needs a name, a valid ID number and a share."), code="invalid_heirs",
                              details={"heir": index}) from None
        if not name or share <= 0:
            raise DomainError(_("Each heir needs a name, a valid ID number and a share."), code="invalid_heirs",
                              details={"heir": index})
        cleaned.append({"name": name, "id_number": id_number, "share_percent": str(share)})
        total += share
    if total != 100:
        raise DomainError(_("The heirs' shares must add up to 100%."), code="invalid_heirs",
                          details={"total": str(total)})
    return cleaned


@transaction.atomic
def account_withdrawal_propose(
    *, account: PersonalAccount, reason: str, destination: str = "", heirs: list | None = None, note: str = "",
    user,
) -> AccountDecision:
    """Propose paying the balance out (Zaozhuang 第九条): only for a transfer to another pooling
    region, relocation, settling abroad or death (inheritance). Another case worker approves."""
    require_role(user, Role.CASE_WORKER)
    if reason not in AccountDecision.Reason.values:
        raise UseRefused(
            _("The personal account may not be paid out for this reason."),
            code="withdrawal_not_allowed", details={"reason": reason, "allowed": list(AccountDecision.Reason.values)},
        )
    account = account_lock(account_ids=[account.pk])[account.pk]
    if account.status != PersonalAccount.Status.OPEN:
        raise Conflict(_("The personal account is closed."), code="account_closed")
    if AccountDecision.objects.filter(account=account, status=AccountDecision.Status.PROPOSED).exists():
        raise Conflict(_("A decision on this account is already waiting for approval."), code="decision_pending")
    cleaned_heirs = []
    if reason == AccountDecision.Reason.DEATH:
        if account.member.status != Member.Status.DECEASED:
            raise UseRefused(_("The member is not recorded as deceased."), code="member_not_deceased")
        cleaned_heirs = _clean_heirs(heirs)
    if reason == AccountDecision.Reason.TRANSFER_TO_ANOTHER_REGION and not destination.strip():
        raise DomainError(_("Name the pooling region the account is transferred to."), code="destination_required")
    decision = AccountDecision.objects.create(
        account=account, reason=reason, destination=destination.strip(), heirs=cleaned_heirs, note=note,
        proposed_by=user,
    )
    audit(actor=user, action=AuditAction.ACCOUNT_WITHDRAWAL_PROPOSE, target=decision, reason=reason, heirs=len(cleaned_heirs))
    return decision


_PAYOUT_KIND = {
    AccountDecision.Reason.TRANSFER_TO_ANOTHER_REGION: LedgerEntry.Kind.TRANSFER_OUT,
    AccountDecision.Reason.RELOCATION: LedgerEntry.Kind.WITHDRAWAL,
    AccountDecision.Reason.SETTLING_ABROAD: LedgerEntry.Kind.WITHDRAWAL,
    AccountDecision.Reason.DEATH: LedgerEntry.Kind.INHERITANCE,
}


@transaction.atomic
def account_withdrawal_approve(*, decision: AccountDecision, user) -> AccountDecision:
    """Approve and execute: the whole balance is paid out (to the heirs by their shares on death)
    and the account is closed. The approver is never the proposer (separated duties)."""
    require_role(user, Role.CASE_WORKER)
    decision = AccountDecision.objects.select_for_update().get(pk=decision.pk)
    ensure_separated(proposer=decision.proposed_by, approver=user)
    if decision.status != AccountDecision.Status.PROPOSED:
        raise Conflict(_("This decision has already been decided."), code="already_decided")
    account = account_lock(account_ids=[decision.account_id])[decision.account_id]
    balance = account.balance
    kind = _PAYOUT_KIND[decision.reason]
    if balance > 0:
        if decision.reason == AccountDecision.Reason.DEATH:
            remaining = balance
            for index, heir in enumerate(decision.heirs):
                last = index == len(decision.heirs) - 1
                # Each share rounds to the fen; the last heir takes what is left, so the sum is exact.
                share = remaining if last else to_fen(balance * Decimal(heir["share_percent"]) / 100)
                if share > 0:
                    account_post_entry(account=account, kind=kind, amount=-share, reference=decision.reference,
                                       memo=f"{heir['name']} {mask_id_number(heir['id_number'])}", user=user)
                remaining -= share
        else:
            account_post_entry(account=account, kind=kind, amount=-balance, reference=decision.reference,
                               memo=decision.destination[:200], user=user)
    PersonalAccount.objects.filter(pk=account.pk).update(
        status=PersonalAccount.Status.CLOSED, closed_on=timezone.localdate(),
    )
    decision.status, decision.amount = AccountDecision.Status.EXECUTED, balance
    decision.decided_by, decision.decided_at = user, timezone.now()
    decision.save(update_fields=["status", "amount", "decided_by", "decided_at"])
    audit(actor=user, action=AuditAction.ACCOUNT_WITHDRAWAL_APPROVE, target=decision, reason=decision.reason,
          amount=str(balance))
    return decision


@transaction.atomic
def account_withdrawal_reject(*, decision: AccountDecision, reason: str, user) -> AccountDecision:
    require_role(user, Role.CASE_WORKER)
    decision = AccountDecision.objects.select_for_update().get(pk=decision.pk)
    ensure_separated(proposer=decision.proposed_by, approver=user)
    if decision.status != AccountDecision.Status.PROPOSED:
        raise Conflict(_("This decision has already been decided."), code="already_decided")
    decision.status, decision.rejection_reason = AccountDecision.Status.REJECTED, reason[:300]
    decision.decided_by, decision.decided_at = user, timezone.now()
    decision.save(update_fields=["status", "rejection_reason", "decided_by", "decided_at"])
    audit(actor=user, action=AuditAction.ACCOUNT_WITHDRAWAL_REJECT, target=decision)
    return decision


# Refunds after closing (账户关闭后退款) ---------------------------------------------------


@transaction.atomic
def account_late_refund_record(*, account: PersonalAccount, entry: LedgerEntry, user=None) -> LateRefund | None:
    """A refund `entry` has just reached `account`: if the account is closed, the money is
    recorded as a late refund awaiting approval (never stranded). The caller holds the
    account's lock. The same entry again returns the first record; an open account, None."""
    if account.status != PersonalAccount.Status.CLOSED or entry.amount <= 0:
        return None
    decision = (AccountDecision.objects.filter(account=account, status=AccountDecision.Status.EXECUTED)
                .order_by("-decided_at", "-pk").first())
    refund, created = LateRefund.objects.get_or_create(
        entry=entry,
        defaults={"account": account, "decision": decision, "amount": entry.amount,
                  "created_by": user if getattr(user, "pk", None) else None},
    )
    if created:
        audit(actor=user, action=AuditAction.ACCOUNT_LATE_REFUND_RECORD, target=refund, amount=str(refund.amount),
              reference=entry.reference)
    return refund


@transaction.atomic
def account_late_refund_approve(*, refund: LateRefund, user) -> LateRefund:
    """A case worker approves paying a late refund out as the closing decision paid the balance
    (to the heirs by their shares on death, else to its destination). Never the person who
    reversed the settlement (separated duties); paid once."""
    require_role(user, Role.CASE_WORKER)
    # of=self: PostgreSQL locks no row of the outer-joined (nullable) decision.
    refund = LateRefund.objects.select_for_update(of=("self",)).select_related("decision").get(pk=refund.pk)
    if refund.created_by_id is not None:
        ensure_separated(proposer=refund.created_by_id, approver=user)
    if refund.status != LateRefund.Status.PENDING:
        raise Conflict(_("This refund has already been paid out."), code="already_decided")
    account = account_lock(account_ids=[refund.account_id])[refund.account_id]
    decision = refund.decision
    kind = _PAYOUT_KIND[decision.reason] if decision is not None else LedgerEntry.Kind.WITHDRAWAL
    if decision is not None and decision.reason == AccountDecision.Reason.DEATH and decision.heirs:
        remaining = refund.amount
        for index, heir in enumerate(decision.heirs):
            last = index == len(decision.heirs) - 1
            # As at the withdrawal: each share rounds to the fen, the last heir takes the rest.
            share = remaining if last else to_fen(refund.amount * Decimal(heir["share_percent"]) / 100)
            if share > 0:
                account_post_entry(account=account, kind=kind, amount=-share, reference=refund.reference,
                                   memo=f"{heir['name']} {mask_id_number(heir['id_number'])}", user=user,
                                   closed_account_payout=True)
            remaining -= share
    else:
        account_post_entry(account=account, kind=kind, amount=-refund.amount, reference=refund.reference,
                           memo=(decision.destination if decision is not None else "")[:200], user=user,
                           closed_account_payout=True)
    refund.status, refund.decided_by, refund.decided_at = LateRefund.Status.PAID, user, timezone.now()
    refund.save(update_fields=["status", "decided_by", "decided_at"])
    audit(actor=user, action=AuditAction.ACCOUNT_LATE_REFUND_PAY, target=refund, amount=str(refund.amount))
    return refund
