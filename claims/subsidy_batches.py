"""Pending large-amount second payments (Jinan (七)), paid in one approved batch.

Jinan (七) fixes the second payment's threshold but not its ratio, which ships empty. A
settlement above the threshold still settles the fund's share and holds the burden above the
threshold as pending (`Claim.large_expense_pending_base`, `MemberYear.large_expense_pending_base`).
Once the agency has set the ratio in the version (an open parameter may be set on a used
version), one case worker proposes a batch and another approves it: each pending claim gets
its second payment, base × ratio, rounded to the fen (calculator R8), added to the member's
year. Services join the caller's transaction (plain `atomic`); the admin action is the entry.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError, NotFound
from core.money import to_fen
from core.roles import Role, ensure_separated, require_role

from .models import Claim, MemberYear, PolicyVersion, SubsidyBatch, SubsidyPayment

HUNDRED = Decimal(100)


class SubsidyBatchRefused(DomainError):
    code = "subsidy_batch_refused"


def pending_claims(policy_version: PolicyVersion):
    """Settled claims of the version whose second payment is pending and in no batch yet: the
    version's pooling claims and the chronic claims that used its large-amount rule (Jinan (七):
    chronic/special burden counts toward the same second payment)."""
    return (
        Claim.objects.filter(Q(policy_version=policy_version) | Q(chronic__large_expense_policy_version=policy_version))
        .filter(status=Claim.Status.SETTLED, large_expense_pending_base__gt=0)
        .filter(subsidy_payment__isnull=True)
        .order_by("pk")
    )


def pending_take_backs(policy_version: PolicyVersion):
    """Take-backs (negative rows) of the version's paid second payments whose claims were
    reversed after approval, waiting for the next batch."""
    return SubsidyPayment.objects.filter(batch__isnull=True, reverses__batch__policy_version=policy_version).order_by("pk")


def _require_case_worker(user) -> None:
    """Second-payment batches are the case workers' (README "Roles": 经办 handles claims; 稽核 and
    财务 only read them). `user` None is a system caller (a command or a task), which is allowed."""
    if user is not None:
        require_role(user, Role.CASE_WORKER)


@transaction.atomic
def _subsidy_take_back_record(*, user, claim: Claim) -> SubsidyPayment | None:
    """Jinan (七): a claim reversed after its second payment was paid in an approved batch gives
    the payment back. The paid row is never edited: a negative row takes it back in the next
    batch of the version. None when nothing was paid.

    Private, and without a role check of its own: its one caller is the reversal
    (`claims.services.claim_reverse`), in its transaction, after the reversal has checked the
    caller (`_may_reverse`: the provider that settled the claim, or an agency user who may change
    settlements). A role check here would refuse the provider's own reversal; no view, admin
    action, task or command calls it (tests/claims/test_subsidy_take_back.py walks the source)."""
    paid = (
        SubsidyPayment.objects.select_for_update(of=("self",))
        .filter(claim=claim, batch__status=SubsidyBatch.Status.APPROVED).first()
    )
    if paid is None or SubsidyPayment.objects.filter(reverses=paid).exists():
        return None
    take_back = SubsidyPayment.objects.create(
        batch=None, claim=None, member_id=paid.member_id, base=-paid.base, amount=-paid.amount, reverses=paid,
    )
    audit(actor=user, action=AuditAction.SUBSIDY_PAYMENT_TAKE_BACK, target=take_back, label=f"{claim.submitter}/{claim.external_ref}",
          amount=f"{take_back.amount:.2f}", paid_in_batch=paid.batch_id)
    return take_back


@transaction.atomic
def subsidy_batch_propose(*, user, policy_version_id: int) -> SubsidyBatch:
    """Propose paying every pending second payment of a version, at the ratio now set."""
    _require_case_worker(user)
    version = PolicyVersion.objects.select_for_update().filter(pk=policy_version_id).first()
    if version is None:
        raise NotFound(_("No such policy version."), details={"policy_version": policy_version_id})
    rule = (version.parameters or {}).get("large_expense_subsidy") or {}
    ratio = rule.get("ratio_percent")
    if ratio is None:
        raise SubsidyBatchRefused(
            _("The version's second-payment ratio is still empty: set large_expense_subsidy.ratio_percent first."),
            code="policy_parameter_missing",
            details={"parameter": "large_expense_subsidy.ratio_percent", "policy_version": version.pk},
        )
    if SubsidyBatch.objects.filter(policy_version=version, status=SubsidyBatch.Status.PROPOSED).exists():
        raise Conflict(_("A batch of this version is already waiting for approval."), code="subsidy_batch_open", details={"policy_version": version.pk})
    claims = list(pending_claims(version).only("pk", "member_id", "large_expense_pending_base"))
    take_backs = list(pending_take_backs(version).select_for_update())
    if not claims and not take_backs:
        raise SubsidyBatchRefused(_("No second payment of this version is pending."), code="nothing_pending", details={"policy_version": version.pk})
    ratio = Decimal(str(ratio))
    batch = SubsidyBatch.objects.create(policy_version=version, ratio_percent=ratio, proposed_by=user)
    payments = [
        SubsidyPayment(
            batch=batch, claim_id=claim.pk, member_id=claim.member_id, base=claim.large_expense_pending_base,
            amount=to_fen(claim.large_expense_pending_base * ratio / HUNDRED),  # R8
        )
        for claim in claims
    ]
    SubsidyPayment.objects.bulk_create(payments)
    # Take-backs join the batch as they are (negative rows: the amount paid, at the ratio paid).
    SubsidyPayment.objects.filter(pk__in=[row.pk for row in take_backs]).update(batch=batch)
    batch.payment_count = len(payments) + len(take_backs)
    batch.total = sum((payment.amount for payment in payments + take_backs), Decimal("0.00"))
    batch.save(update_fields=["payment_count", "total"])
    audit(actor=user, action=AuditAction.SUBSIDY_BATCH_PROPOSE, target=batch, label=str(version), payments=batch.payment_count, total=f"{batch.total:.2f}", ratio_percent=str(ratio))
    return batch


@transaction.atomic
def subsidy_batch_approve(*, user, batch_id: int) -> SubsidyBatch:
    """Approve a proposed batch (never by its proposer): the second payments are paid into the
    members' years; a claim reversed since the proposal is dropped from the batch."""
    _require_case_worker(user)
    batch = SubsidyBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise NotFound(_("No such batch."), details={"batch": batch_id})
    if batch.status != SubsidyBatch.Status.PROPOSED:
        raise Conflict(_("This batch was already approved."), code="subsidy_batch_approved", details={"batch": batch.pk})
    ensure_separated(proposer=batch.proposed_by, approver=user)
    payments = list(batch.payments.select_related("claim", "reverses__claim").order_by("pk"))
    # A claim reversed since the proposal is dropped (a take-back is never dropped).
    dropped = [payment for payment in payments if payment.claim_id and payment.claim.status != Claim.Status.SETTLED]
    if dropped:
        SubsidyPayment.objects.filter(pk__in=[payment.pk for payment in dropped]).delete()
    kept = [payment for payment in payments if payment not in dropped]
    # Lock order: the members' year rows by pk (as settlement locks one year row).
    keys = {(payment.member_id, payment.settlement.year) for payment in kept}
    years = {
        (row.member_id, row.year): row
        for row in MemberYear.objects.select_for_update().filter(member_id__in={member for member, _ in keys}).order_by("pk")
        if (row.member_id, row.year) in keys
    }
    for payment in kept:
        year = years[(payment.member_id, payment.settlement.year)]
        # A take-back's amount is negative: it takes the paid second payment back.
        year.large_expense_subsidy_paid += payment.amount
        if payment.claim_id:
            year.large_expense_pending_base = max(Decimal(0), year.large_expense_pending_base - payment.base)
    for year in years.values():
        year.save(update_fields=["large_expense_subsidy_paid", "large_expense_pending_base", "updated_at"])
    batch.status = SubsidyBatch.Status.APPROVED
    batch.approved_by = user
    batch.approved_at = timezone.now()
    batch.payment_count = len(kept)
    batch.total = sum((payment.amount for payment in kept), Decimal("0.00"))
    batch.save(update_fields=["status", "approved_by", "approved_at", "payment_count", "total"])
    audit(actor=user, action=AuditAction.SUBSIDY_BATCH_APPROVE, target=batch, label=str(batch), payments=batch.payment_count, total=f"{batch.total:.2f}", dropped=len(dropped))
    return batch
