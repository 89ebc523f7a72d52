"""State changes of supervision: knowledge-base imports, the flag workflow, credit scores.

Flag workflow (every step by its role, in the flag's history and the audit trail):
    new ──first review (稽核)──▶ first_reviewed ──second review by ANOTHER auditor──▶ dismissed
                                                                                 └─▶ confirmed (amount)
    confirmed ──provider appeals in the portal within `appeal_days`──▶ appealed ──decision──▶ dismissed | confirmed
    confirmed (appeal decided, or the window closed) ──deduction (稽核)──▶ deducted: the amount goes on the provider's
    next statement (claims.statements.services.deduction_record) and each member involved gets a
    credit record.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError, Forbidden
from core.money import to_fen
from core.roles import Role, ensure_separated, require_role

from . import rulebase
from .credit_rating import CreditInputs, credit_score
from .models import (
    Flag,
    FlagTransition,
    FrequencyLimit,
    KnowledgeBaseVersion,
    MemberCreditRecord,
    ProviderCreditScore,
    RepeatedChargePair,
    RulebaseBatch,
    RulebaseImport,
    SexRestrictedDrug,
)
from .notifications import flag_notify
from .rules import parameters_of

BATCH_MODELS = {
    RulebaseBatch.SEX_RESTRICTED: SexRestrictedDrug,
    RulebaseBatch.REPEATED_CHARGE: RepeatedChargePair,
    RulebaseBatch.FREQUENCY_LIMIT: FrequencyLimit,
}

# ---------------------------------------------------------------------------------------
# Knowledge base


def rulebase_import(*, source, batch: str | None = None, file_name: str = "", user=None) -> RulebaseImport:
    """Replace one batch of the knowledge base with a spreadsheet, whole, or write nothing.

    `user` is None from the command line (the operator); through the admin it is an auditor."""
    if user is not None:
        require_role(user, Role.AUDITOR)
    try:
        parsed = rulebase.parse(source, batch)  # read and check everything before the transaction
    except rulebase.RulebaseInvalid as error:
        raise DomainError(_("The rule library file was refused."), code="rulebase_invalid",
                          details={"errors": error.errors}) from None
    return _rulebase_replace(parsed=parsed, file_name=file_name, user=user)


@transaction.atomic
def _rulebase_replace(*, parsed: rulebase.Parsed, file_name: str, user) -> RulebaseImport:
    model = BATCH_MODELS[parsed.batch]
    removed, _detail = model.objects.all().delete()
    model.objects.bulk_create(parsed.objects, batch_size=2000)
    record = RulebaseImport.objects.create(batch=parsed.batch, file_name=file_name[:200], rows=len(parsed.objects),
                                           imported_by=user if getattr(user, "pk", None) else None)
    KnowledgeBaseVersion.bump()
    audit(actor=user, action=AuditAction.SUPERVISION_RULEBASE_IMPORT, target=record, batch=parsed.batch, rows=len(parsed.objects),
          replaced=removed)
    return record


# ---------------------------------------------------------------------------------------
# Flags


def _locked(flag: Flag) -> Flag:
    return Flag.objects.select_for_update().select_related("rule").get(pk=flag.pk)


def _expect(flag: Flag, *statuses) -> None:
    if flag.status not in statuses:
        raise Conflict(_("This flag is not in a state that allows this step."), code="flag_wrong_state",
                       details={"status": flag.status, "expected": list(statuses)})


def _step(flag: Flag, *, action: str, to: str, user, note: str = "", fields=(), **details) -> Flag:
    before = flag.status
    flag.status = to
    flag.save(update_fields=["status", *fields])
    FlagTransition.objects.create(flag=flag, from_status=before, to_status=to, action=action, actor=user, note=note)
    audit(actor=user, action=AuditAction(f"supervision.flag.{action}"), target=flag, from_status=before, to_status=to, **details)
    return flag


def _amount(value) -> Decimal:
    amount = to_fen(Decimal(str(value)))
    if amount < 0:
        raise DomainError(_("The amount may not be negative."), code="invalid_amount", details={"amount": str(value)})
    return amount


def _opinion(text: str, field: str) -> str:
    """Each step of a flag carries the person's own words: never empty, never a stock phrase."""
    text = (text or "").strip()
    if not text:
        raise DomainError(_("Write the opinion or reason for this step."), code="opinion_required",
                          details={"field": field})
    return text


@transaction.atomic
def flag_first_review(*, flag: Flag, user, opinion: str) -> Flag:
    """初审: an auditor examines the evidence and writes an opinion."""
    require_role(user, Role.AUDITOR)
    opinion = _opinion(opinion, "opinion")
    flag = _locked(flag)
    _expect(flag, Flag.Status.NEW)
    flag.first_reviewer, flag.first_opinion = user, opinion
    return _step(flag, action="first_review", to=Flag.Status.FIRST_REVIEWED, user=user, note=opinion,
                 fields=["first_reviewer", "first_opinion"])


def _second_review(flag: Flag, user) -> Flag:
    require_role(user, Role.AUDITOR)
    flag = _locked(flag)
    _expect(flag, Flag.Status.FIRST_REVIEWED)
    # Ziyang 第十九条: the second reviewer (复审) is never the first (不相容岗位分离).
    ensure_separated(proposer=flag.first_reviewer, approver=user)
    flag.second_reviewer = user
    return flag


def _confirm(flag: Flag, user, amount, note: str, today: date | None) -> Flag:
    note = _opinion(note, "note")
    flag = _second_review(flag, user)
    today = today or timezone.localdate()
    flag.confirmed_amount = _amount(amount)
    flag.confirmed_on = today
    flag.appeal_deadline = today + timedelta(days=parameters_of(flag.rule.code, flag.rule.parameters)["appeal_days"])
    flag = _step(flag, action="confirm", to=Flag.Status.CONFIRMED, user=user, note=note,
                 fields=["second_reviewer", "confirmed_amount", "confirmed_on", "appeal_deadline"],
                 amount=str(flag.confirmed_amount))
    flag_notify(flag, "confirmed", note=note)  # issue 16: the provider is told, in this transaction
    return flag


def _dismiss(flag: Flag, user, note: str) -> Flag:
    note = _opinion(note, "note")
    flag = _second_review(flag, user)
    return _step(flag, action="dismiss", to=Flag.Status.DISMISSED, user=user, note=note, fields=["second_reviewer"])


@transaction.atomic
def flag_confirm(*, flag: Flag, user, amount, note: str = "", today: date | None = None) -> Flag:
    """复审 confirms a violation with the amount to deduct; the appeal window opens."""
    return _confirm(flag, user, amount, note, today)


@transaction.atomic
def flag_dismiss(*, flag: Flag, user, note: str = "") -> Flag:
    """复审 finds no violation."""
    return _dismiss(flag, user, note)


@transaction.atomic
def flag_second_review(*, flag: Flag, user, violation: bool, amount=None, note: str = "", today: date | None = None) -> Flag:
    """复审 in one call: confirm with an amount, or dismiss."""
    if violation:
        return _confirm(flag, user, flag.amount_at_stake if amount is None else amount, note, today)
    return _dismiss(flag, user, note)


@transaction.atomic
def flag_appeal(*, flag: Flag, user, reason: str, today: date | None = None) -> Flag:
    """The provider appeals a confirmed flag (portal), within the appeal window."""
    from pharmacies.access import provider_of

    require_role(user, Role.PROVIDER)
    flag = _locked(flag)
    provider = provider_of(user)
    if provider is None or provider.pk != flag.provider_id:
        raise Forbidden()
    _expect(flag, Flag.Status.CONFIRMED)
    today = today or timezone.localdate()
    if flag.appeal_decided_by_id is not None or today > flag.appeal_deadline:
        raise Conflict(_("The appeal window is closed."), code="appeal_closed",
                       details={"appeal_deadline": str(flag.appeal_deadline)})
    if not reason.strip():
        raise DomainError(_("Give the reason for the appeal."), code="appeal_reason_required")
    flag.appeal_reason = reason
    return _step(flag, action="appeal", to=Flag.Status.APPEALED, user=user, note=reason, fields=["appeal_reason"])


@transaction.atomic
def flag_decide_appeal(*, flag: Flag, user, upheld: bool, amount=None, note: str = "") -> Flag:
    """An auditor other than the one who confirmed decides the appeal: upheld (dismissed) or
    rejected (confirmed, possibly with a lower amount)."""
    require_role(user, Role.AUDITOR)
    note = _opinion(note, "note")
    flag = _locked(flag)
    _expect(flag, Flag.Status.APPEALED)
    # Neither the first nor the second reviewer decides the appeal against their own finding
    # (Ziyang 第十九条: incompatible duties).
    ensure_separated(proposer=flag.first_reviewer, approver=user)
    ensure_separated(proposer=flag.second_reviewer, approver=user)
    flag.appeal_decided_by, flag.appeal_decision = user, note
    fields = ["appeal_decided_by", "appeal_decision"]
    if upheld:
        flag = _step(flag, action="appeal_upheld", to=Flag.Status.DISMISSED, user=user, note=note, fields=fields)
        flag_notify(flag, "appeal_upheld", note=note)
        return flag
    if amount is not None:
        flag.confirmed_amount = _amount(amount)
        fields.append("confirmed_amount")
    flag = _step(flag, action="appeal_rejected", to=Flag.Status.CONFIRMED, user=user, note=note, fields=fields,
                 amount=str(flag.confirmed_amount))
    flag_notify(flag, "appeal_rejected", note=note)
    return flag


def _deductible(flag: Flag, today: date) -> None:
    _expect(flag, Flag.Status.CONFIRMED)
    if flag.appeal_decided_by_id is None and today <= flag.appeal_deadline:
        raise Conflict(_("The provider may still appeal until the deadline."), code="appeal_window_open",
                       details={"appeal_deadline": str(flag.appeal_deadline)})
    if flag.confirmed_amount and flag.confirmed_amount > 0 and flag.provider_id is None:
        raise Conflict(_("This flag names no local provider to deduct from."), code="flag_no_provider")


@transaction.atomic
def flag_deduct(*, flag: Flag, user, today: date | None = None) -> Flag:
    """A confirmed, no longer appealable flag becomes a deduction on the provider's next statement.

    One transaction: the deduction (claims' `deduction_record`, which joins it and is
    idempotent on the flag's reference), the flag's new state and the members' credit records
    are written together or not at all.

    An auditor's step (稽核), as the review: the deduction carries out the auditors' decision,
    and finance (财务) then approves the statement it lands on; finance never adds to the
    statements it approves (README "Roles")."""
    require_role(user, Role.AUDITOR)
    today = today or timezone.localdate()
    flag = _locked(flag)
    _deductible(flag, today)
    reference = ""
    if flag.confirmed_amount and flag.confirmed_amount > 0:
        # The one way supervision writes into claims: the provider's next monthly statement.
        from claims.statements.services import deduction_record

        deduction = deduction_record(
            provider=flag.provider, amount=flag.confirmed_amount,
            # The rule's Chinese description (its code is never shown to people).
            reason=(_("Confirmed violation: %(rule)s") % {"rule": flag.rule.description})[:500],
            source_reference=f"supervision.flag:{flag.pk}", user=user,
        )
        reference = str(getattr(deduction, "pk", deduction) or "")[:64]
    flag.deduction_reference = reference
    # Members involved in a confirmed violation get a credit record (Yangzhou 三(一), Jinan (二十)).
    if flag.member_id:
        MemberCreditRecord.objects.get_or_create(
            member_id=flag.member_id, flag=flag, defaults={"day": flag.day, "reason": str(flag.message)[:300]},
        )
    flag = _step(flag, action="deduct", to=Flag.Status.DEDUCTED, user=user, fields=["deduction_reference"],
                 amount=str(flag.confirmed_amount), deduction=reference)
    if flag.confirmed_amount and flag.confirmed_amount > 0:
        flag_notify(flag, "deducted")
    return flag


def flags_deduct_due(*, user, today: date | None = None) -> int:
    """Every confirmed flag whose appeal window has closed, each in its own transaction (or its
    own savepoint inside the caller's). An auditor's step, as `flag_deduct`."""
    require_role(user, Role.AUDITOR)
    today = today or timezone.localdate()
    due = Flag.objects.filter(status=Flag.Status.CONFIRMED).filter(
        Q(appeal_decided_by__isnull=False) | Q(appeal_deadline__lt=today)).values_list("pk", flat=True)
    count = 0
    for pk in list(due):
        flag_deduct(flag=Flag(pk=pk), user=user, today=today)
        count += 1
    return count


# ---------------------------------------------------------------------------------------
# Credit scores

CONFIRMED = (Flag.Status.CONFIRMED, Flag.Status.DEDUCTED)


@transaction.atomic
def provider_credit_compute(*, year: int, user=None) -> int:
    """Recompute every provider's credit score for `year` (supervision.credit_rating explains the formula)."""
    if user is not None:
        require_role(user, Role.AUDITOR)
    from pharmacies.models import Provider

    totals = {
        row["provider_id"]: row
        for row in Flag.objects.filter(status__in=CONFIRMED, day__year=year, provider__isnull=False)
        .values("provider_id")
        .annotate(
            violations=Count("pk", filter=~Q(rule__code="provider_indicators")),
            indicators=Count("pk", filter=Q(rule__code="provider_indicators")),
            amount=Sum("confirmed_amount"),
        )
    }
    count = 0
    for provider_id in Provider.objects.values_list("pk", flat=True):
        row = totals.get(provider_id, {})
        inputs = CreditInputs(row.get("violations", 0), to_fen(Decimal(str(row.get("amount") or 0))), row.get("indicators", 0))
        result = credit_score(inputs)
        ProviderCreditScore.objects.update_or_create(
            provider_id=provider_id, year=year,
            defaults={"score": result.score, "grade": result.grade,
                      "details": {"violations": inputs.violations, "confirmed_amount": str(inputs.confirmed_amount),
                                  "indicator_flags": inputs.indicator_flags, "deductions": result.deductions}},
        )
        count += 1
    audit(actor=user, action=AuditAction.SUPERVISION_CREDIT_COMPUTE, year=year, providers=count)
    return count
