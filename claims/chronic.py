"""Chronic and special diseases (门诊慢特病, 两病): registrations and settlement.

Services use plain `transaction.atomic()` (they join the caller's transaction; the outermost
entry point — API view, admin action, command — is the durable one). Pure rules live in
claims/chronic_calculator.py; the policy format in claims/chronic_format.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError, NotFound
from core.idnumber import mask_id_number, normalize_id_number
from core.money import ZERO
from core.roles import Role, ensure_separated, require_role
from members.models import FamilyLink, LedgerEntry, Member, PersonalAccount
from members.services import account_lock, account_post_entry

from . import calculator as calc
from . import chronic_calculator as chronic_calc
from . import settlement_queries as queries
from .models import ChronicClaim, ChronicRegistration, ChronicYear, Claim, Disease, MemberYear, PolicyVersion
from .services import (
    Caller,
    SettlementRefused,
    _refuse,
    _valid_id_number,
    insert_claim,
    line_inputs,
    new_claim,
    policy_version_on,
    prepare_caller,
    prepare_items,
    prepare_visit,
    reference_for,
    visit_warnings,
)


class RegistrationRefused(DomainError):
    code = "registration_refused"


def _require_case_worker(user) -> None:
    """Registrations are the case workers' (README "Roles": 经办 handles claims; 稽核 and 财务
    only read them). `user` None is a system caller (a command or a task), which is allowed."""
    if user is not None:
        require_role(user, Role.CASE_WORKER)


def chronic_policy_on(day: date, region: str | None = None) -> PolicyVersion | None:
    """The region's chronic_special version in force on `day`."""
    return queries.policy_version_on(region or settings.REGION, PolicyVersion.Kind.CHRONIC_SPECIAL, day)


# ---------------------------------------------------------------------------------------
# Registrations (认定/备案)


def _overlapping(queryset, valid_from: date, valid_to: date | None):
    """Registrations whose validity overlaps [valid_from, valid_to]."""
    queryset = queryset.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from))
    if valid_to is not None:
        queryset = queryset.filter(valid_from__lte=valid_to)
    return queryset


def _check_dates(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise RegistrationRefused(_("The end date is before the start date."), code="invalid", details={"field": "valid_to"})


def registration_exclusion(*, registration: ChronicRegistration, pending: bool) -> list[ChronicRegistration]:
    """Apply the region's exclusion rule (Ziyang 第九条) to a new registration: refuse it, or
    return the member's approved registrations it ends. `pending`: it is only proposed (what
    it would end is not ended yet)."""
    policy = chronic_policy_on(registration.valid_from)
    parameters = policy.parameters if policy is not None else {}
    others = _overlapping(
        ChronicRegistration.objects.filter(member_id=registration.member_id, status=ChronicRegistration.Status.APPROVED)
        .exclude(pk=registration.pk).select_related("disease"),
        registration.valid_from, registration.valid_to,
    )
    others = list(others)
    decision = chronic_calc.exclusion(
        parameters, new_group=registration.disease.group, held_groups={other.disease.group for other in others}
    )
    if decision.refused_by_group is not None:
        raise RegistrationRefused(
            _("The region's policy does not allow this registration together with the member's {group} registration: the benefits may not be enjoyed twice.").format(
                group=Disease.Group(decision.refused_by_group).label),
            code="registration_excluded",
            details={"field": "disease", "held_group": decision.refused_by_group},
        )
    if pending:
        return []
    return [other for other in others if other.disease.group in decision.ends_groups]


def _end_excluded(*, registration: ChronicRegistration, ended: list[ChronicRegistration], user) -> None:
    """Ziyang 第九条: a special-disease registration ends the member's 两病 one on the day before
    it starts (revoked when it would not have started by then)."""
    last_day = registration.valid_from - timedelta(days=1)
    for other in ended:
        other.ended_by = registration
        if other.valid_from > last_day:
            other.status = ChronicRegistration.Status.REVOKED
            other.revoked_by = user if getattr(user, "pk", None) else None
            other.revoked_at = timezone.now()
            other.revoke_reason = f"superseded by registration {registration.pk} ({registration.disease.code})"[:300]
            other.save(update_fields=["ended_by", "status", "revoked_by", "revoked_at", "revoke_reason"])
        else:
            other.valid_to = last_day
            other.save(update_fields=["ended_by", "valid_to"])
        audit(actor=user, action=AuditAction.CHRONIC_REGISTRATION_END, target=other, label=str(other),
              ended_by=registration.pk, valid_to=str(other.valid_to), status=other.status)


@transaction.atomic
def registration_propose(
    *, user, member, disease: Disease, valid_from: date, valid_to: date | None = None,
    certified_by=None, designated_provider=None,
) -> ChronicRegistration:
    """A case worker proposes a registration; another approves it."""
    _require_case_worker(user)
    _check_dates(valid_from, valid_to)
    same = _overlapping(
        ChronicRegistration.objects.filter(member=member, disease=disease).exclude(status=ChronicRegistration.Status.REVOKED),
        valid_from, valid_to,
    )
    if same.exists():
        raise RegistrationRefused(
            _("The member already has a registration for this disease in these dates."),
            code="registration_overlaps", details={"field": "valid_from"},
        )
    registration = ChronicRegistration(
        member=member, disease=disease, valid_from=valid_from, valid_to=valid_to, certified_by=certified_by,
        designated_provider=designated_provider, status=ChronicRegistration.Status.PROPOSED,
        proposed_by=user, proposed_at=timezone.now(),
    )
    registration_exclusion(registration=registration, pending=True)
    registration.save()
    audit(actor=user, action=AuditAction.CHRONIC_REGISTRATION_PROPOSE, target=registration, label=str(registration),
          disease=disease.code, valid_from=str(valid_from), valid_to=str(valid_to))
    return registration


@transaction.atomic
def registration_approve(*, user, registration: ChronicRegistration) -> ChronicRegistration:
    """Another case worker approves (never the proposer: Ziyang 第十九条, separated duties)."""
    _require_case_worker(user)
    registration = ChronicRegistration.objects.select_for_update(of=("self",)).select_related("disease", "member").get(pk=registration.pk)
    if registration.status != ChronicRegistration.Status.PROPOSED:
        raise RegistrationRefused(
            _("Only a proposed registration can be approved."), code="invalid_state", details={"status": registration.status}
        )
    ensure_separated(proposer=registration.proposed_by, approver=user)
    ended = registration_exclusion(registration=registration, pending=False)
    registration.status = ChronicRegistration.Status.APPROVED
    registration.approved_by = user
    registration.approved_at = timezone.now()
    registration.save(update_fields=["status", "approved_by", "approved_at"])
    _end_excluded(registration=registration, ended=ended, user=user)
    audit(actor=user, action=AuditAction.CHRONIC_REGISTRATION_APPROVE, target=registration, label=str(registration),
          ended=[other.pk for other in ended])
    return registration


@transaction.atomic
def registration_revoke(*, user, registration: ChronicRegistration, reason: str) -> ChronicRegistration:
    """Revoke with a reason: the registration no longer covers any day."""
    _require_case_worker(user)
    reason = (reason or "").strip()
    if not reason:
        raise RegistrationRefused(_("Give the reason for revoking."), code="reason_required", details={"field": "reason"})
    registration = ChronicRegistration.objects.select_for_update(of=("self",)).get(pk=registration.pk)
    if registration.status == ChronicRegistration.Status.REVOKED:
        raise RegistrationRefused(_("The registration is already revoked."), code="invalid_state", details={"status": registration.status})
    registration.status = ChronicRegistration.Status.REVOKED
    registration.revoked_by = user
    registration.revoked_at = timezone.now()
    registration.revoke_reason = reason[:300]
    registration.save(update_fields=["status", "revoked_by", "revoked_at", "revoke_reason"])
    audit(actor=user, action=AuditAction.CHRONIC_REGISTRATION_REVOKE, target=registration, label=str(registration), reason=reason[:300])
    return registration


def member_registrations(*, user, id_number: str) -> dict:
    """The member's chronic and special disease registrations (like the national 5301). Every
    read is logged with who asked."""
    from members.models import Member

    id_number = normalize_id_number(id_number)
    member = Member.objects.filter(id_number=id_number).first()
    audit(actor=user, action=AuditAction.MEMBER_REGISTRATIONS_READ, target=member, label=mask_id_number(id_number))
    if member is None:
        raise NotFound(_("No member has this ID number."), code="member_not_found", details={"id_number": mask_id_number(id_number)})
    today = timezone.localdate()
    rows = (
        ChronicRegistration.objects.filter(member=member)
        .exclude(status=ChronicRegistration.Status.PROPOSED)
        .select_related("disease", "certified_by", "designated_provider")
        .order_by("-valid_from", "-pk")
    )
    return {
        "id_number": mask_id_number(member.id_number),
        "registrations": [
            {
                "disease_code": row.disease.code,
                "disease_name": row.disease.name,
                "group": row.disease.group,
                "valid_from": row.valid_from.isoformat(),
                "valid_to": row.valid_to.isoformat() if row.valid_to else None,
                "status": row.status,
                "valid_today": row.covers(today),
                "certified_by_code": row.certified_by.code if row.certified_by else None,
                "designated_provider_code": row.designated_provider.code if row.designated_provider else None,
                "designated_provider_name": row.designated_provider.name if row.designated_provider else None,
            }
            for row in rows
        ],
    }


# ---------------------------------------------------------------------------------------
# Settlement (benefit "chronic_special"): preview, settle, and the reversal's part


@dataclass
class ChronicPrepared:
    caller: Caller
    member: object
    payer: object | None
    paying_account_id: int | None
    policy: PolicyVersion
    disease: Disease
    registration: ChronicRegistration
    terms: chronic_calc.ChronicTerms
    situation: calc.MemberSituation
    lines: tuple
    items: list
    large_expense: tuple | None  # (threshold, ratio or None): Jinan (七)
    # Ziyang 第十一条: the pooling version's yearly maximum, when it has one (calc.PolicyInput).
    fund_maximum_policy: calc.PolicyInput | None = None
    # Ziyang 第十一条: whether the claim's fund counts toward that maximum, as the pooling version
    # in force on the visit date says (pooling's column of the same name; None: not set).
    counts_toward_annual_fund_maximum: bool | None = None


def _parameter_missing(missing: calc.CalculationRefused, policy: PolicyVersion):
    return SettlementRefused(
        _("The region's policy leaves a parameter empty that this settlement needs: {parameter}. A case worker must set it.").format(parameter=missing.parameter),
        code="policy_parameter_missing",
        details={"parameter": missing.parameter, "policy_version": policy.pk},
    )


def _prepare(*, user, request) -> ChronicPrepared:
    # The caller's and the visit's checks are pooling's (claims/services.py), except that a
    # chronic benefit does not need the provider to be in ordinary outpatient pooling: its
    # designation for the disease is the registration's. Ziyang 第十三条, Jinan (九): the
    # cross-region platform settles chronic and special diseases too.
    caller = prepare_caller(user=user, request=request, pooling=False)
    provider, provider_kind, provider_level = caller.provider, caller.provider_kind, caller.provider_level
    id_number = prepare_visit(request)
    if not request.disease_code:
        _refuse("disease_code_required", _("A chronic or special disease settlement names the disease (disease_code)."), field="disease_code")
    disease = Disease.objects.filter(region=settings.REGION, code=request.disease_code).first()
    if disease is None:
        _refuse("unknown_disease", _("The disease is not in the region's list."), field="disease_code", disease_code=request.disease_code)
    catalog = prepare_items(request)
    member = queries.member_on(id_number, request.visit_date)
    if member is None:
        raise NotFound(_("No member has this ID number."), code="member_not_found", details={"member_id_number": mask_id_number(id_number)})
    if member.enrollment_from is None:
        _refuse("not_enrolled", _("The member was not enrolled on the visit date."), field="visit_date")

    # CONTRACT.md: the registration is checked before any parameter.
    registration = (
        ChronicRegistration.objects.valid_on(request.visit_date).filter(member=member, disease=disease)
        .order_by("-valid_from").first()
    )
    if registration is None:
        _refuse("not_registered_for_disease", _("The member has no registration for this disease valid on the visit date."),
                field="disease_code", disease_code=disease.code, visit_date=request.visit_date.isoformat())
    if registration.designated_provider_id is not None and (provider is None or provider.pk != registration.designated_provider_id):
        _refuse("designated_provider_required", _("The member's registration for this disease names another provider: settle it there."),
                field="disease_code", designated_provider_code=registration.designated_provider.code)

    payer = None
    paying_account_id = None
    if request.payer_id_number:
        payer_id = _valid_id_number(request.payer_id_number, "payer_id_number")
        payer = Member.objects.select_related("account").filter(id_number=payer_id).first()
        # 家庭共济: only the member's spouse, parents and children may pay from their account.
        if payer is None or payer.pk == member.pk or not FamilyLink.objects.filter(member=member, relative=payer).exists():
            _refuse("payer_not_relative", _("The payer is not a linked spouse, parent or child of the member."), field="payer_id_number")
        account = getattr(payer, "account", None) if hasattr(payer, "account") else None
        if account is None or account.status != PersonalAccount.Status.OPEN:
            _refuse("payer_has_no_account", _("The payer has no open personal account."), field="payer_id_number")
        paying_account_id = account.pk
    elif request.use_account:
        account = member.account if hasattr(member, "account") else None
        if account is not None and account.status == PersonalAccount.Status.OPEN:
            paying_account_id = account.pk

    policy = chronic_policy_on(request.visit_date)
    if policy is None:
        _refuse("policy_version_missing", _("No chronic and special disease policy is in force on the visit date."),
                region=settings.REGION, visit_date=request.visit_date.isoformat())
    deceased = member.died_on is not None and request.visit_date > member.died_on
    situation = calc.MemberSituation(
        employment_status=member.enrollment_status,
        scheme=member.enrollment_scheme,
        pre_1949_veteran=member.enrollment_veteran,
        active=member.status == Member.Status.ACTIVE or (member.status == Member.Status.DECEASED and not deceased),
        deceased=deceased,
    )
    level = calc.PHARMACY if provider_kind == calc.PHARMACY else provider_level
    reference = reference_for(policy.parameters)
    try:
        terms = chronic_calc.terms_for(
            policy.parameters, code=disease.code, group=disease.group, level=level, member=situation, reference=reference
        )
    except calc.CalculationRefused as missing:
        raise _parameter_missing(missing, policy) from None

    large_expense = None
    if policy.parameters.get("counts_toward_large_expense_subsidy"):
        # Jinan (七): the threshold and ratio are the pooling policy's (大额医疗费用补助).
        pooling = policy_version_on(request.visit_date)
        rule = (pooling.parameters.get("large_expense_subsidy") if pooling is not None else None) or {}
        if pooling is None or not rule:
            _refuse("policy_version_missing", _("No outpatient pooling policy is in force on the visit date."),
                    region=settings.REGION, visit_date=request.visit_date.isoformat())
        try:
            threshold = calc.resolve_money(rule.get("threshold"), "large_expense_subsidy.threshold", situation, reference_for(pooling.parameters))
        except calc.CalculationRefused as missing:
            raise _parameter_missing(missing, pooling) from None
        ratio = rule.get("ratio_percent")
        large_expense = (threshold, Decimal(str(ratio)) if ratio is not None else None, pooling)

    # Ziyang 第十一条: the pooled fund's yearly maximum (the pooling version's
    # annual_fund_maximum) limits chronic payments too.
    pooling = large_expense[2] if large_expense is not None else policy_version_on(request.visit_date)
    fund_maximum_policy = None
    if pooling is not None and pooling.parameters.get("annual_fund_maximum") is not None:
        fund_maximum_policy = calc.PolicyInput(pooling.region, pooling.parameters, reference_for(pooling.parameters))
    counts = pooling.parameters.get("counts_toward_annual_fund_maximum") if pooling is not None else None

    lines = line_inputs(request, catalog)
    return ChronicPrepared(
        caller=caller, member=member, payer=payer, paying_account_id=paying_account_id, policy=policy, disease=disease,
        registration=registration, terms=terms, situation=situation, lines=lines,
        items=[catalog[item.code] for item in request.items], large_expense=large_expense,
        fund_maximum_policy=fund_maximum_policy,
        counts_toward_annual_fund_maximum=None if counts is None else bool(counts),
    )


def _compute(prepared: ChronicPrepared, request, tally: ChronicYear | None, year: MemberYear | None, balance) -> chronic_calc.ChronicResult:
    large_expense = None
    if prepared.large_expense is not None:
        threshold, ratio, _pooling = prepared.large_expense
        large_expense = chronic_calc.LargeExpense(
            burden_so_far=year.large_expense_burden if year else ZERO,
            inpatient_burden=year.inpatient_compliant_burden if year else ZERO,
            threshold=threshold, ratio=ratio,
        )
    maximum_left = None
    if prepared.fund_maximum_policy is not None:
        try:
            maximum_left = calc.fund_maximum_left(prepared.fund_maximum_policy, prepared.situation, calc.YearSoFar(
                fund_paid=year.fund_paid if year else ZERO,
                inpatient_fund_paid=year.inpatient_fund_paid if year else ZERO,
                chronic_fund_paid=year.chronic_fund_paid if year else ZERO,
            ))
        except calc.CalculationRefused:
            maximum_left = None
    try:
        return chronic_calc.settle_chronic(
            prepared.lines, prepared.situation, prepared.terms,
            chronic_calc.TallySoFar(deductible_met=tally.deductible_met, fund_paid=tally.fund_paid) if tally else chronic_calc.TallySoFar(),
            large_expense=large_expense,
            use_account=request.use_account,
            family_payer=prepared.payer is not None,
            account_balance=balance,
            fund_maximum_left=maximum_left,
        )
    except calc.CalculationRefused as missing:
        raise _parameter_missing(missing, prepared.large_expense[2] if prepared.large_expense else prepared.policy) from None


def _money(value):
    return None if value is None else f"{value:.2f}"


def _tally_output(prepared_or_claim_tally: str, disease_code: str, tally: chronic_calc.TallySoFar, limit, year_burden, year_subsidy) -> dict:
    return {
        "tally": prepared_or_claim_tally,
        "disease_code": disease_code,
        "deductible_met": _money(tally.deductible_met),
        "fund_paid": _money(tally.fund_paid),
        "cap": _money(limit),
        "cap_remaining": _money(max(ZERO, limit - tally.fund_paid) if limit is not None else None),
        "large_expense_burden": _money(year_burden),
        "large_expense_subsidy_paid": _money(year_subsidy),
    }


def _render(prepared: ChronicPrepared, result: chronic_calc.ChronicResult, request, year: MemberYear | None) -> dict:
    burden = (year.large_expense_burden if year else ZERO) + result.large_expense_burden_added
    subsidy = (year.large_expense_subsidy_paid if year else ZERO) + result.large_expense_subsidy
    return {
        "benefit": "chronic_special",
        "disease_code": prepared.disease.code,
        "total": _money(result.total),
        "fully_self_paid": _money(result.fully_self_paid),
        "over_limit": _money(result.over_limit),
        "class_b_prepay": _money(result.class_b_prepay),
        "policy_scope": _money(result.policy_scope),
        "outside_disease_scope": _money(result.out_of_scope),
        "temporary_visit_prepay": "0.00",
        "deductible": _money(result.deductible),
        "ratio": _money(result.ratio),
        "fund": _money(result.fund),
        "large_expense_subsidy": _money(result.large_expense_subsidy),
        # Jinan (七) with the ratio open: the burden above the threshold held for a second payment.
        "large_expense_subsidy_pending": _money(result.large_expense_pending_base),
        "personal_burden": _money(result.personal_burden),
        "account": _money(result.account),
        "family_account": _money(result.family_account),
        "cash": _money(result.cash),
        "balance_after": _money(result.balance_after),
        "denied_reason": result.denied_reason,
        "year": _tally_output(prepared.terms.tally, prepared.disease.code, result.tally, result.limit, burden, subsidy),
        "lines": [
            {
                "code": line.line.code,
                "quantity": str(line.line.quantity),
                "unit_price": _money(line.line.unit_price),
                "amount": _money(line.line.amount),
                "fully_self_paid": _money(line.line.fully_self_paid),
                "over_limit": _money(line.line.over_limit),
                "class_b_prepay": _money(line.line.class_b_prepay),
                "policy_scope": _money(line.line.policy_scope if line.in_scope else ZERO),
                "in_disease_scope": line.in_scope,
                "reason": line.reason,
            }
            for line in result.lines
        ],
        "policy_version": prepared.policy.pk,
        "warnings": _warnings(prepared, result, request),
    }


def _warnings(prepared: ChronicPrepared, result: chronic_calc.ChronicResult, request) -> list[dict]:
    return visit_warnings(
        request=request, caller_provider=prepared.caller.provider, provider_kind=prepared.caller.provider_kind,
        age=prepared.member.age_on(request.visit_date), sex=prepared.member.sex,
        lines=[line.line for line in result.lines], items=prepared.items,
    )


def chronic_preview(*, user, request) -> dict:
    """预结算 of a chronic visit: computes as settlement would, writes and locks nothing."""
    prepared = _prepare(user=user, request=request)
    tally = ChronicYear.objects.filter(member=prepared.member, year=request.visit_date.year, tally=prepared.terms.tally).first()
    year = MemberYear.objects.filter(member=prepared.member, year=request.visit_date.year).first()
    balance = None
    if prepared.paying_account_id is not None:
        balance = PersonalAccount.objects.filter(pk=prepared.paying_account_id).values_list("balance", flat=True).first()
    return _render(prepared, _compute(prepared, request, tally, year, balance), request, year)


def _lock_tally(member_id: int, year: int, tally: str) -> ChronicYear:
    def locked():
        return ChronicYear.objects.select_for_update(of=("self",)).filter(member_id=member_id, year=year, tally=tally).first()

    row = locked()
    if row is None:
        # First chronic settlement of the year on this tally: no race with a concurrent creator.
        ChronicYear.objects.bulk_create([ChronicYear(member_id=member_id, year=year, tally=tally)], ignore_conflicts=True)
        row = locked()
    return row


def chronic_settle(*, user, request, fingerprint: str) -> dict:
    """结算 of a chronic visit, inside claims.services.settle_once's transaction.atomic() (called
    by _claim_settle, as `settle`: no savepoint of its own). Lock order as in
    pooling, with the tally in between: the member's benefit year, the disease's tally, then the
    paying account. A refusal raises before anything is written."""
    from .services import _lock_year

    prepared = _prepare(user=user, request=request)
    year = _lock_year(prepared.member.pk, request.visit_date.year)
    tally = _lock_tally(prepared.member.pk, request.visit_date.year, prepared.terms.tally)
    account = None
    if prepared.paying_account_id is not None:
        account = account_lock(account_ids=[prepared.paying_account_id])[prepared.paying_account_id]
    result = _compute(prepared, request, tally, year, account.balance if account is not None else None)
    response = _render(prepared, result, request, year)

    claim = new_claim(
        user=user, caller=prepared.caller, request=request, fingerprint=fingerprint, member=prepared.member,
        payer=prepared.payer, policy_version=prepared.policy, result=result, response=response,
        benefit=Claim.Benefit.CHRONIC_SPECIAL,
        use_account=request.use_account,
        deductible=result.deductible,
        pay_ratio_percent=result.ratio,
        fund=result.fund,
        large_expense_subsidy=result.large_expense_subsidy,
        large_expense_burden_added=result.large_expense_burden_added,
        large_expense_pending_base=result.large_expense_pending_base,
        denied_reason=result.denied_reason or "",
        counts_toward_annual_fund_maximum=prepared.counts_toward_annual_fund_maximum,
    )
    # The settlement and its lines as pooling and account-only write them; an out-of-scope line
    # keeps no policy-scope amount (the disease's scope decides it).
    insert_claim(claim, [line.line if line.in_scope else replace(line.line, policy_scope=ZERO) for line in result.lines],
                 prepared.items)
    ChronicClaim.objects.create(
        claim=claim, disease=prepared.disease, registration=prepared.registration, tally=tally, out_of_scope=result.out_of_scope,
        # Jinan (七): the pooling version whose second-payment ratio pays a pending base (its batch).
        large_expense_policy_version=prepared.large_expense[2] if prepared.large_expense else None,
    )
    paid = result.account + result.family_account
    if paid > 0:
        account_post_entry(
            account=account,
            kind=LedgerEntry.Kind.FAMILY_SHARING_PAYMENT if result.family_account else LedgerEntry.Kind.SETTLEMENT_PAYMENT,
            amount=-paid,
            reference=claim.ledger_reference,
            memo=f"{prepared.caller.submitter}/{request.external_ref}"[:200],
            user=user,
        )
    tally.deductible_met = result.tally.deductible_met
    tally.fund_paid = result.tally.fund_paid
    tally.limit = result.limit
    tally.save(update_fields=["deductible_met", "fund_paid", "limit", "updated_at"])
    if result.large_expense_burden_added or result.large_expense_subsidy or result.large_expense_pending_base or result.fund:
        year.large_expense_burden += result.large_expense_burden_added
        year.large_expense_subsidy_paid += result.large_expense_subsidy
        year.large_expense_pending_base += result.large_expense_pending_base
        # Ziyang 第十一条: the year's chronic fund counts toward the pooled fund's yearly maximum.
        year.chronic_fund_paid += result.fund
        year.save(update_fields=["large_expense_burden", "large_expense_subsidy_paid", "large_expense_pending_base", "chronic_fund_paid", "updated_at"])
    audit(
        actor=user,
        action=AuditAction.CLAIM_SETTLE,
        target=claim,
        label=f"{prepared.caller.submitter}/{request.external_ref}",
        member=prepared.member.masked_id_number,
        benefit=Claim.Benefit.CHRONIC_SPECIAL.value,
        disease=prepared.disease.code,
        fund=response["fund"],
        account=response["account"],
        family_account=response["family_account"],
    )
    return {"settlement_id": claim.pk, **response}


def ordinary_pooling_check(*, member, request) -> None:
    """Called by pooling's preparation for a member holding a chronic registration on the visit
    date: refuses a pooling settlement "for" a registered disease whose costs may not also use
    ordinary pooling (`ordinary_pooling_too` false: chronic_calculator.pooling_conflict). Reads
    only; nothing is written."""
    policy = chronic_policy_on(request.visit_date)
    if policy is None:
        return
    registered = list(
        ChronicRegistration.objects.valid_on(request.visit_date).filter(member=member)
        .order_by("valid_from", "pk").values_list("disease__code", "disease__group", "disease__name")
    )
    conflict = chronic_calc.pooling_conflict(
        policy.parameters, registered=[(code, group) for code, group, _name in registered],
        disease_code=request.disease_code, item_codes=[item.code for item in request.items],
    )
    if conflict is None:
        return
    name = next(name for code, _group, name in registered if code == conflict.disease_code)
    items = [{"index": index, "position": index + 1, "code": request.items[index].code} for index in conflict.item_positions]
    if conflict.named:
        message = _("The member is registered for {disease} and the region's policy settles its costs only under the chronic and special disease benefit, not also through ordinary outpatient pooling: settle this visit with the chronic and special disease benefit.").format(disease=name)
    else:
        message = _("The member is registered for {disease} and the region's policy settles its costs only under the chronic and special disease benefit: item {positions} ({codes}) is in that disease's scope. Settle it with the chronic and special disease benefit.").format(
            disease=name, positions=", ".join(str(item["position"]) for item in items), codes=", ".join(item["code"] for item in items))
    _refuse("chronic_costs_not_in_ordinary_pooling", message,
            field="disease_code" if conflict.named else "items", disease_code=conflict.disease_code, items=items,
            policy_version=policy.pk)


def chronic_tally_lock(claim: Claim) -> ChronicYear:
    """The reversal's lock on the claim's tally (after the member's year, before accounts)."""
    return ChronicYear.objects.select_for_update(of=("self",)).get(pk=claim.chronic.tally_id)


def chronic_tally_give_back(tally: ChronicYear, claim: Claim) -> dict:
    """撤销: the deductible and fund the claim used come back to its tally (the limit with them)."""
    tally.deductible_met = max(ZERO, tally.deductible_met - claim.deductible)
    tally.fund_paid = max(ZERO, tally.fund_paid - claim.fund)
    tally.save(update_fields=["deductible_met", "fund_paid", "updated_at"])
    return {
        "tally": tally.tally,
        "disease_code": claim.chronic.disease.code,
        "deductible_met": _money(tally.deductible_met),
        "fund_paid": _money(tally.fund_paid),
        "cap": _money(tally.limit),
        "cap_remaining": _money(tally.limit_remaining),
    }
