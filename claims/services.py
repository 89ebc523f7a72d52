"""Settlement services: preview, settle, reverse, and the member's benefit year.

Each state change is one `transaction.atomic()` (it joins the caller's transaction, README
"Transactions"; the settlement view opens none, so on the hot path it is the outermost): lock the member's
year row, then the paying account (fixed order: year, then accounts by pk), compute with the
pure calculator, write the claim with its lines, debit the account through
members.services.account_post_entry, update the year, audit. A refusal raises before
anything is written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.idnumber import mask_id_number, normalize_id_number, parse_id_number
from core.money import ZERO
from core.sql import insert, update
from members.models import (
    Episode,
    FamilyLink,
    LedgerEntry,
    Member,
    PersonalAccount,
    ReferenceValue,
    Registration,
)
from members.services import account_late_refund_record, account_lock, account_post_entry, account_reverse_entry
from pharmacies.access import is_agency_staff, staff_link
from pharmacies.models import Provider

from . import calculator as calc
from . import settlement_queries as queries
from . import visit_facts
from .explanation import explain
from .models import (
    CatalogItem,
    ChosenInstitution,
    Claim,
    ClaimLine,
    MemberYear,
    PolicyVersion,
    SubsidyBatch,
    SubsidyPayment,
)
from .visit_facts import LineFact, VisitFacts

CROSS_REGION_SUBMITTER = "cross_region"
OUTPATIENT_POOLING = "outpatient_pooling"
PERSONAL_ACCOUNT = "personal_account"
REMOTE_LEVELS = set(calc.LEVELS) | {calc.PHARMACY}


# ---------------------------------------------------------------------------------------
# Request


@dataclass(frozen=True)
class ItemRequest:
    code: str
    quantity: Decimal
    unit_price: Decimal | None = None


@dataclass(frozen=True)
class SettlementRequest:
    member_id_number: str
    visit_date: date
    items: tuple[ItemRequest, ...]
    external_ref: str = ""
    benefit: str = OUTPATIENT_POOLING
    visit_place: str = calc.LOCAL
    provider_level: str | None = None
    remote_provider_code: str | None = None
    remote_provider_name: str | None = None
    prescribed_by_code: str | None = None
    use_account: bool = False
    payer_id_number: str | None = None
    # Account-only settlement: what the treated person's own insurance already paid.
    other_insurance_paid: Decimal | None = None
    # Zaozhuang 第十八条: the member died in emergency care (门急诊抢救无效死亡) on this visit.
    died_in_emergency_care: bool = False
    # Jinan (五): the six-digit division code of the place of treatment (cross-region platform).
    treatment_division_code: str = ""
    # benefit "chronic_special": the disease settled (claims/chronic.py).
    disease_code: str | None = None

    # Fields added after the first release (append new request fields here, with a default).
    LATER_FIELDS: ClassVar[frozenset[str]] = frozenset({"other_insurance_paid", "died_in_emergency_care", "disease_code", "treatment_division_code"})

    @classmethod
    def from_data(cls, data: dict) -> SettlementRequest:
        values = dict(data)
        values["items"] = tuple(
            ItemRequest(code=item["code"], quantity=item["quantity"], unit_price=item.get("unit_price"))
            for item in data["items"]
        )
        return cls(**{key: value for key, value in values.items() if value is not None or key == "items"})

    def fingerprint(self) -> str:
        """A hash of the request's meaning (same body → same hash, whatever the formatting)."""

        def plain(value):
            if isinstance(value, Decimal):
                return str(value.normalize())
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, tuple | list):
                return [plain(v) for v in value]
            if isinstance(value, ItemRequest):
                return [value.code, plain(value.quantity), plain(value.unit_price)]
            return value or None

        # A field added after claims were stored counts only when it differs from its default,
        # so a repeat of a request stored before the field existed keeps its fingerprint.
        # (`__dataclass_fields__` also lists the LATER_FIELDS class variable: it has always
        # entered the hash as null, and must keep doing so for stored fingerprints to match.)
        body = {
            key: plain(getattr(self, key)) if key != "LATER_FIELDS" else None
            for key, field in self.__dataclass_fields__.items()
            if key not in self.LATER_FIELDS or getattr(self, key) != field.default
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class SettlementRefused(DomainError):
    code = "settlement_refused"


def _refuse(code: str, message, **details):
    raise SettlementRefused(message, code=code, details=details)


# ---------------------------------------------------------------------------------------
# Reading what a settlement needs (no writes)


@dataclass
class Prepared:
    caller: Caller
    prescriber: Provider | None
    member: Member
    payer: Member | None
    paying_account_id: int | None
    policy: PolicyVersion
    visit: calc.VisitInput
    situation: calc.MemberSituation
    reference: dict
    items: list[CatalogItem]


def _valid_id_number(value: str, field: str) -> str:
    from django.core.exceptions import ValidationError

    value = normalize_id_number(value)
    try:
        parse_id_number(value)
    except ValidationError as error:
        _refuse("invalid_id_number", _("The ID number is not valid."), field=field, reason=" ".join(error.messages))
    return value


def policy_version_on(day: date, region: str | None = None) -> PolicyVersion | None:
    """The region's outpatient-pooling version in force on `day`: the latest that started on or
    before it and has not ended (a later version replaces an open-ended one from its date)."""
    return queries.policy_version_on(region or settings.REGION, PolicyVersion.Kind.OUTPATIENT_POOLING, day)


def _wage_years(node) -> set[int]:
    years = set()
    if isinstance(node, dict):
        if "percent_of_average_wage" in node and isinstance(node.get("wage_year"), int):
            years.add(node["wage_year"])
        for value in node.values():
            years |= _wage_years(value)
    return years


def reference_for(parameters: dict) -> dict:
    """The reference data the parameters derive amounts from (Yangzhou: the 2021 average wage)."""
    years = _wage_years(parameters)
    if not years:
        return {}
    rows = ReferenceValue.objects.filter(
        kind=ReferenceValue.Kind.AVERAGE_WAGE, year__in=years, sector=ReferenceValue.Sector.ALL
    ).values_list("year", "value")
    return {("average_wage", year): value for year, value in rows}


@dataclass(frozen=True)
class Caller:
    """Who sends the settlement: a local provider, or the cross-region platform."""

    submitter: str
    provider: Provider | None
    provider_kind: str
    provider_level: str


def prepare_caller(*, user, request: SettlementRequest, pooling: bool = True) -> Caller:
    """The caller's checks, shared by every benefit. `pooling`: the benefit is paid by the
    pooled fund, so the provider must be in outpatient pooling (account-only sales need not)."""
    link = staff_link(user)
    if link is None:
        if is_agency_staff(user):
            # Agency staff never settle: settlements come from providers' systems only.
            raise Forbidden(_("Agency staff never act as a provider: settlements come from providers' systems only."),
                            code="agency_staff_not_provider")
        raise Forbidden()
    provider = link.provider
    if provider is not None:
        submitter = provider.code
        if provider.status == Provider.Status.EXPIRED:
            # Its agreement ended and no renewal is in force (pharmacies.agreements_expire_due).
            _refuse("agreement_expired", _("The provider's agreement has expired."), provider=provider.code, status=provider.status)
        if provider.status != Provider.Status.ACTIVE:
            _refuse("provider_suspended", _("The provider's agreement is suspended or terminated."), provider=provider.code, status=provider.status)
        if pooling and not provider.outpatient_pooling:
            _refuse("provider_not_in_outpatient_pooling", _("The provider is not in outpatient pooling."), provider=provider.code)
        if request.visit_place != calc.LOCAL:
            _refuse("visit_place_invalid", _("A local provider settles local visits only."), field="visit_place")
        provider_kind = provider.kind
        provider_level = provider.policy_level
    else:
        # The cross-region settlement platform (异地就医结算平台): the provider is remote.
        submitter = CROSS_REGION_SUBMITTER
        if request.visit_place == calc.LOCAL:
            _refuse("visit_place_invalid", _("The cross-region platform settles visits outside the region only."), field="visit_place")
        missing = [
            name for name in ("remote_provider_code", "remote_provider_name", "provider_level")
            if not getattr(request, name)
        ]
        if missing:
            _refuse("remote_provider_required", _("A visit outside the region names the remote provider and its level."), fields=missing)
        if request.provider_level not in REMOTE_LEVELS:
            _refuse("provider_level_invalid", _("The provider level is not known."), field="provider_level", allowed=sorted(REMOTE_LEVELS))
        provider_kind = calc.PHARMACY if request.provider_level == calc.PHARMACY else calc.INSTITUTION
        provider_level = "" if provider_kind == calc.PHARMACY else request.provider_level
    return Caller(submitter=submitter, provider=provider, provider_kind=provider_kind, provider_level=provider_level)


def settlement_window_days(policy: PolicyVersion | None) -> int:
    """The region's settlement window: its outpatient-pooling version's `settlement_window_days`
    (the version in force on the visit date), else SETTLEMENT_WINDOW_DAYS; 0 turns it off."""
    window = policy.parameters.get("settlement_window_days") if policy is not None else None
    return settings.SETTLEMENT_WINDOW_DAYS if window is None else window


_LOOK_UP = object()


def prepare_visit(request: SettlementRequest, *, policy=_LOOK_UP) -> str:
    """The visit's own checks, for every benefit and every way in (the API, the national
    interface's 2204/2206/2207 and 2101-2103): the person's ID number (returned normalized), a
    date not in the future and within the region's settlement window (README, Bounds of one
    settlement). `policy`: the outpatient-pooling version on the visit date, when the caller has
    read it already (the pooling hot path reads it once)."""
    id_number = _valid_id_number(request.member_id_number, "member_id_number")
    today = timezone.localdate()
    if request.visit_date > today:
        _refuse("visit_date_in_future", _("The visit date is in the future."), field="visit_date")
    # A back-dated visit would draw on an old year's unused cap (or an old year's account).
    if policy is _LOOK_UP:
        policy = policy_version_on(request.visit_date)
    window = settlement_window_days(policy)
    if window and request.visit_date < today - timedelta(days=window):
        _refuse("visit_outside_settlement_window", _("The visit is older than the region's settlement window ({days} days).").format(days=window),
                field="visit_date", window_days=window, earliest=(today - timedelta(days=window)).isoformat())
    return id_number



def prepare_items(request: SettlementRequest) -> dict[str, CatalogItem]:
    """The visit's catalog items by code, for every benefit and every way in (the API, the
    national interface). Every problem is named by the item's index (from 0, its place in
    `items`), its position (from 1, as the messages count) and code; a line or a visit above the
    documented maxima (README, Bounds of one settlement) is refused."""
    problems = []
    codes = {item.code for item in request.items}
    catalog = queries.catalog_items(codes)
    max_quantity, max_price = settings.SETTLEMENT_MAX_QUANTITY, settings.SETTLEMENT_MAX_UNIT_PRICE
    max_line, max_total = settings.SETTLEMENT_MAX_LINE_AMOUNT, settings.SETTLEMENT_MAX_VISIT_TOTAL
    visit_total = Decimal(0)

    def problem(index, item, field, error):
        problems.append({"index": index, "position": index + 1, "code": item.code, "field": field, "error": error, "message": ""})

    for index, item in enumerate(request.items):
        known = catalog.get(item.code)
        if known is None:
            problem(index, item, "code", "unknown_item")
        if item.quantity is None or item.quantity <= 0:
            problem(index, item, "quantity", "quantity_not_positive")
        elif item.quantity > max_quantity:
            problem(index, item, "quantity", "quantity_too_large")
        if item.unit_price is not None and item.unit_price <= 0:
            problem(index, item, "unit_price", "unit_price_not_positive")
        if item.unit_price is None and known is not None and not known.list_price:
            problem(index, item, "unit_price", "unit_price_required")
        price = item.unit_price if item.unit_price is not None else (known.list_price if known is not None else None)
        if price is not None and price > max_price:
            problem(index, item, "unit_price", "unit_price_too_large")
        elif price is not None and price > 0 and item.quantity is not None and 0 < item.quantity <= max_quantity:
            # The documented maxima (README, Amounts): a line, then the visit.
            amount = item.quantity * price
            if amount > max_line:
                problem(index, item, "amount", "line_amount_too_large")
            visit_total += amount
    if problems:
        messages = {
            "unknown_item": _("Item {position} ({code}) is not in the catalog."),
            "quantity_not_positive": _("Item {position} ({code}): the quantity must be a positive amount."),
            "unit_price_not_positive": _("Item {position} ({code}): the unit price must be a positive amount."),
            "unit_price_required": _("Item {position} ({code}) has no listed price: send its unit price."),
            "quantity_too_large": _("Item {position} ({code}): the quantity is above the most one line may have ({limit})."),
            "unit_price_too_large": _("Item {position} ({code}): the unit price is above the most one line may have ({limit})."),
            "line_amount_too_large": _("Item {position} ({code}): the line amount is above the most one line may have ({limit})."),
        }
        limits = {"quantity_too_large": max_quantity, "unit_price_too_large": max_price, "line_amount_too_large": max_line}
        for entry in problems:
            entry["message"] = str(messages[entry["error"]]).format(limit=limits.get(entry["error"], ""), **entry)
        _refuse(problems[0]["error"], problems[0]["message"], items=problems)
    if visit_total > max_total:
        _refuse("visit_total_too_large", _("The visit's total is above the most one visit may have ({limit}).").format(limit=max_total),
                field="items", total=f"{visit_total:.2f}", limit=f"{max_total:.2f}")
    return catalog


def check_bounds(request: SettlementRequest) -> None:
    """The bounds of one settlement alone (README, Bounds of one settlement): the visit's date and
    window (prepare_visit) and the lines' catalog and maxima (prepare_items), the checks every
    settlement makes. For a way in that stores what it was sent before it settles it (the national
    interface keeps fee lines): called first, so that nothing beyond the bounds is ever written."""
    prepare_visit(request)
    prepare_items(request)


def line_inputs(request: SettlementRequest, catalog: dict[str, CatalogItem]) -> tuple[calc.LineInput, ...]:
    return tuple(
        calc.LineInput(
            item=calc.CatalogFacts(
                code=catalog[item.code].code,
                item_class=catalog[item.code].item_class,
                prepay_percent=catalog[item.code].prepay_percent,
                payment_standard=catalog[item.code].payment_standard,
            ),
            quantity=item.quantity,
            unit_price=item.unit_price if item.unit_price is not None else catalog[item.code].list_price,
        )
        for item in request.items
    )


def _prepare(*, user, request: SettlementRequest) -> Prepared:
    if request.benefit != OUTPATIENT_POOLING:
        _refuse("benefit_not_supported", _("Only the general outpatient pooling benefit is settled here."), field="benefit")

    caller = prepare_caller(user=user, request=request)
    provider, provider_kind, provider_level = caller.provider, caller.provider_kind, caller.provider_level
    policy = policy_version_on(request.visit_date)
    id_number = prepare_visit(request, policy=policy)
    catalog = prepare_items(request)

    member = queries.member_on(id_number, request.visit_date)
    if member is None:
        raise NotFound(_("No member has this ID number."), code="member_not_found", details={"member_id_number": mask_id_number(id_number)})
    if member.enrollment_from is None:
        _refuse("not_enrolled", _("The member was not enrolled on the visit date."), field="visit_date")
    if member.enrollment_benefits_from is not None and request.visit_date < member.enrollment_benefits_from:
        # Ziyang 第八条(二): 补足缴费，次月起享受医保待遇，之前的医保待遇不再补办 — enrolled, but
        # benefits start only on the first day of the month after the arrears were paid.
        _refuse(
            "benefits_not_started",
            _("The member's benefits start on {date} (the month after the arrears were paid); earlier visits are not covered.").format(
                date=member.enrollment_benefits_from.isoformat()
            ),
            field="visit_date", benefits_from=member.enrollment_benefits_from.isoformat(), article="资阳 第八条(二)",
        )

    if member.has_chronic_registration:
        # A registered chronic/special disease whose costs may not also use ordinary pooling
        # (chronic policy `ordinary_pooling_too` false) refuses a visit naming the disease or
        # buying within its scope (claims/chronic.py; read only for registered members).
        from .chronic import ordinary_pooling_check

        ordinary_pooling_check(member=member, request=request)

    prescriber = None
    prescriber_level = None
    if request.prescribed_by_code:
        prescriber = Provider.objects.select_related("parent").filter(
            code=request.prescribed_by_code, kind=Provider.Kind.INSTITUTION
        ).first()
        if prescriber is None:
            _refuse("unknown_prescriber", _("The prescribing institution is not a designated institution."), field="prescribed_by_code")
        prescriber_level = prescriber.policy_level

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

    if request.died_in_emergency_care:
        # Zaozhuang 第十八条: 在门急诊抢救无效死亡的，其政策范围内的医疗费用按照一次住院报销 — the
        # inpatient system settles these costs as one stay, not outpatient pooling.
        _refuse(
            "settle_as_inpatient_stay",
            _("The member died in emergency care: these costs are reimbursed as one inpatient stay. Settle them in the inpatient system, not in outpatient pooling."),
            field="died_in_emergency_care", article="枣庄 第十八条",
        )

    if policy is None:
        _refuse("policy_version_missing", _("No outpatient pooling policy is in force on the visit date."), region=settings.REGION, visit_date=request.visit_date.isoformat())
    # The settlement window was checked with the visit (prepare_visit), for every benefit.

    episodes = tuple(kind for kind in Episode.SUSPENDS_OUTPATIENT_POOLING if getattr(member, f"in_{kind}"))
    # Registrations matter only for a visit outside the region (one query less on the hot path).
    registrations = () if request.visit_place == calc.LOCAL else tuple(
        Registration.objects.filter(member=member, kind=Registration.Kind.LONG_TERM_RESIDENCE, valid_from__lte=request.visit_date)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=request.visit_date))
        .values_list("place", "division_code")
    )
    places = tuple(place for place, code in registrations if not code)
    divisions = tuple((place, code) for place, code in registrations if code)
    deceased = member.died_on is not None and request.visit_date > member.died_on
    situation = calc.MemberSituation(
        employment_status=member.enrollment_status,
        scheme=member.enrollment_scheme,
        pre_1949_veteran=member.enrollment_veteran,
        active=member.status == Member.Status.ACTIVE or (member.status == Member.Status.DECEASED and not deceased),
        deceased=deceased,
        episode_kinds=episodes,
        registered_places=places,
        registered_divisions=divisions,
    )
    # Jinan (四) until 2023-12-31: the institution whose deductible the visit counts toward and
    # which must be among the member's chosen ones — the provider, or a pharmacy's prescribing
    # institution (Jinan (十): the institutions' policy); a remote provider by its code.
    if provider is None:
        institution, institution_key = None, f"remote:{request.remote_provider_code or ''}"[:40]
    elif provider_kind == calc.INSTITUTION:
        institution, institution_key = provider, provider.code
    else:
        institution, institution_key = prescriber, prescriber.code if prescriber is not None else ""
    at_chosen = None
    if calc.chosen_institutions_required(policy.parameters, request.visit_place):
        # One query, only under a version that requires chosen institutions.
        at_chosen = institution is not None and ChosenInstitution.objects.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=request.visit_date), cancelled=False,
            member_id=member.pk, provider_id=institution.pk, valid_from__lte=request.visit_date,
        ).exists()
    lines = line_inputs(request, catalog)
    visit = calc.VisitInput(
        visit_date=request.visit_date,
        lines=lines,
        provider_kind=provider_kind,
        provider_level=provider_level,
        prescriber_level=prescriber_level,
        visit_place=request.visit_place,
        provider_inpatient_beds=provider.has_inpatient_beds if provider is not None else True,
        treatment_division_code=request.treatment_division_code or "",
        use_account=request.use_account,
        family_payer=payer is not None,
        deductible_institution=institution_key,
        at_chosen_institution=at_chosen,
    )
    return Prepared(
        caller=caller,
        prescriber=prescriber,
        member=member,
        payer=payer,
        paying_account_id=paying_account_id,
        policy=policy,
        visit=visit,
        situation=situation,
        reference=reference_for(policy.parameters),
        items=[catalog[item.code] for item in request.items],
    )


def _compute(prepared: Prepared, year: MemberYear | None, balance: Decimal | None) -> calc.SettlementResult:
    so_far = calc.YearSoFar(
        deductible_met=year.deductible_met,
        fund_paid=year.fund_paid,
        large_expense_burden=year.large_expense_burden,
        large_expense_subsidy_paid=year.large_expense_subsidy_paid,
        inpatient_burden=year.inpatient_compliant_burden,
        inpatient_fund_paid=year.inpatient_fund_paid,
        institution_deductible_met=Decimal((year.deductible_by_institution or {}).get(prepared.visit.deductible_institution, "0")),
        chronic_fund_paid=year.chronic_fund_paid,
    ) if year is not None else calc.YearSoFar()
    policy = calc.PolicyInput(
        region=prepared.policy.region, parameters=prepared.policy.parameters, reference=prepared.reference
    )
    try:
        return calc.settle(prepared.visit, prepared.situation, so_far, policy, account_balance=balance)
    except calc.PolicyParameterMissing as missing:
        raise SettlementRefused(
            _("The region's policy leaves a parameter empty that this settlement needs: {parameter}. A case worker must set it.").format(parameter=missing.parameter),
            code=missing.code,
            details={"parameter": missing.parameter, "policy_version": prepared.policy.pk},
        ) from None
    except calc.InstitutionNotChosen as refused:
        # Jinan (四): 2023 outpatient pooling pays only at the member's chosen institutions.
        raise SettlementRefused(
            _("The visit is not at one of the member's chosen institutions on the visit date: under the region's policy "
              "outpatient pooling pays only there. Register the institution as chosen (人员定点备案) first, or settle at a chosen one."),
            code=refused.code,
            details={"institution": refused.parameter, "visit_date": prepared.visit.visit_date.isoformat(),
                     "policy_version": prepared.policy.pk, "article": "济南 (四)"},
        ) from None
    except calc.PrescriptionRequired as missing:
        raise SettlementRefused(
            _("A pharmacy settles an external prescription: send the prescribing institution's code. "
              "Without a prescription, an account-only sale (benefit personal_account) is possible."),
            code=missing.code,
            details={"field": missing.parameter},
        ) from None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _year_output(year: calc.YearAfter) -> dict:
    return {
        "deductible_met": _money(year.deductible_met),
        "fund_paid": _money(year.fund_paid),
        "cap": _money(year.cap),
        "cap_remaining": _money(year.cap_remaining),
        "large_expense_burden": _money(year.large_expense_burden),
        "large_expense_subsidy_paid": _money(year.large_expense_subsidy_paid),
    }


def _warnings(prepared: Prepared, result: calc.SettlementResult, request: SettlementRequest) -> list[dict]:
    return visit_warnings(
        request=request, caller_provider=prepared.caller.provider, provider_kind=prepared.caller.provider_kind,
        age=prepared.member.age_on(request.visit_date), sex=prepared.member.sex,
        lines=result.lines, items=prepared.items,
    )


def visit_warnings(*, request: SettlementRequest, caller_provider, provider_kind: str, age: int, sex: str,
                   lines, items: list[CatalogItem]) -> list[dict]:
    """The single-visit rules supervision registered (claims.visit_facts), shared by every benefit."""
    facts = VisitFacts(
        visit_date=request.visit_date,
        member_age=age,
        member_sex=sex,
        provider_code=caller_provider.code if caller_provider else (request.remote_provider_code or ""),
        provider_kind=provider_kind,
        lines=tuple(
            LineFact(
                position=index,
                code=line.code,
                kind=item.kind,
                item_class=item.item_class,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
                platform_price=item.platform_price,
            )
            for index, (line, item) in enumerate(zip(lines, items, strict=True))
        ),
    )
    return visit_facts.warnings_for(facts)  # the rules supervision registered at start-up


def _render(prepared: Prepared, result: calc.SettlementResult, request: SettlementRequest) -> dict:
    rendered = {
        "total": _money(result.total),
        "fully_self_paid": _money(result.fully_self_paid),
        "over_limit": _money(result.over_limit),
        "class_b_prepay": _money(result.class_b_prepay),
        "policy_scope": _money(result.policy_scope),
        "temporary_visit_prepay": _money(result.temporary_visit_prepay),
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
        "year": _year_output(result.year),
        "lines": [
            {
                "code": line.code,
                "quantity": str(line.quantity),
                "unit_price": _money(line.unit_price),
                "amount": _money(line.amount),
                "fully_self_paid": _money(line.fully_self_paid),
                "over_limit": _money(line.over_limit),
                "class_b_prepay": _money(line.class_b_prepay),
                "policy_scope": _money(line.policy_scope),
            }
            for line in result.lines
        ],
        "policy_version": prepared.policy.pk,
        "warnings": _warnings(prepared, result, request),
    }
    rendered["explanation"] = [step.as_dict() for step in explain(rendered, prepared.policy.region)]
    return rendered


# ---------------------------------------------------------------------------------------
# Services


def claim_preview(*, user, request: SettlementRequest) -> dict:
    """预结算: compute as settlement would, now, without writing or locking anything."""
    if request.benefit == PERSONAL_ACCOUNT:
        from .account_settlement import account_only_preview

        return account_only_preview(user=user, request=request)
    if request.benefit == Claim.Benefit.CHRONIC_SPECIAL:
        from .chronic import chronic_preview

        return chronic_preview(user=user, request=request)
    prepared = _prepare(user=user, request=request)
    year = MemberYear.objects.filter(member=prepared.member, year=request.visit_date.year).first()
    balance = None
    if prepared.paying_account_id is not None:
        balance = PersonalAccount.objects.filter(pk=prepared.paying_account_id).values_list("balance", flat=True).first()
    return _render(prepared, _compute(prepared, year, balance), request)


def _lock_year(member_id: int, year: int) -> MemberYear:
    row = queries.member_year_locked(member_id, year)
    if row is None:
        # First settlement of the year: create the row without racing a concurrent creator.
        MemberYear.objects.bulk_create([MemberYear(member_id=member_id, year=year)], ignore_conflicts=True)
        row = queries.member_year_locked(member_id, year)
    return row


def _replay(claim: Claim, fingerprint: str) -> dict:
    if claim.request_hash != fingerprint:
        raise Conflict(
            _("This transaction number was already settled with a different request."),
            code="external_ref_conflict",
            details={"external_ref": claim.external_ref, "settlement_id": claim.pk},
        )
    answer = {"settlement_id": claim.pk, **claim.response}
    if claim.status == Claim.Status.REVERSED:
        # A repeat of a settlement since reversed says so: the HIS must not treat it as paid.
        reversed_at = timezone.localtime(claim.reversed_at)
        answer.update(status=claim.status, reversed_at=reversed_at.isoformat(), message=str(_(
            "This settlement was reversed on %(when)s; to settle the visit again, send it with a new transaction number."
        ) % {"when": reversed_at.strftime("%Y-%m-%d %H:%M")}))
    return answer


def claim_settle(*, user, request: SettlementRequest, savepoint: bool = True) -> tuple[dict, bool]:
    """结算. Returns (response, created). The same provider and external_ref again with the same
    request returns the first response and pays nothing more; a different request is a 409.
    `savepoint=False`: see settle_once."""
    if request.benefit == PERSONAL_ACCOUNT:
        from .account_settlement import account_only_settle

        return account_only_settle(user=user, request=request, savepoint=savepoint)
    return settle_once(user=user, request=request, settle=_claim_settle, savepoint=savepoint)


def settle_once(*, user, request: SettlementRequest, settle, savepoint: bool = True) -> tuple[dict, bool]:
    """Idempotency by (submitter, external_ref), for every benefit: `settle(user=, request=,
    fingerprint=)` writes one claim and returns its response, in one `transaction.atomic()`
    (joining the caller's, as a savepoint, when one is open).

    `savepoint=False` is for a caller inside a transaction of its own that rolls back whole on
    any error and whose external_ref has not been used (the national gateway: its references
    are its visits' own, the visit locked): no SAVEPOINT and RELEASE, two round trips less. A
    refusal or a database error then leaves the caller's transaction to roll back, so it is
    raised as it is: the lookup for an earlier settlement of the reference, which needs the
    savepoint to run after a database error, is not made (the caller retries with the
    savepoint when it needs that answer)."""
    if not request.external_ref:
        _refuse("external_ref_required", _("Send the provider's transaction number (external_ref)."), field="external_ref")
    link = staff_link(user)
    submitter = (link.provider.code if link and link.provider_id else CROSS_REGION_SUBMITTER) if link else ""
    fingerprint = request.fingerprint()
    # A repeat is rare: rather than look for the reference before every settlement, settle,
    # and look for it when the unique constraint (submitter, external_ref) refuses the claim
    # (a repeat, or a concurrent twin) or when the request is refused (a repeat answers with
    # the first response even if, say, the provider has been suspended since).
    try:
        with transaction.atomic(savepoint=savepoint):
            return settle(user=user, request=request, fingerprint=fingerprint), True
    except (IntegrityError, DomainError):
        if not savepoint:
            raise
        existing = Claim.objects.filter(submitter=submitter, external_ref=request.external_ref).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint), False


def insert_claim(claim: Claim, lines, items) -> None:
    """Write a settlement and its lines (pooling and account-only: each line's classification as
    the calculator gave it). Fixed INSERTs (core.sql): building them through the ORM cost more
    than running them."""
    insert([claim])
    insert([
        ClaimLine(
            claim=claim,
            position=index,
            catalog_item=item,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            fully_self_paid=line.fully_self_paid,
            over_limit=line.over_limit,
            class_b_prepay=line.class_b_prepay,
            policy_scope=line.policy_scope,
        )
        for index, (line, item) in enumerate(zip(lines, items, strict=True))
    ])


# The bill's shares every benefit's calculator computes, under these names on its result.
BILL_SHARES = (
    "total", "fully_self_paid", "over_limit", "class_b_prepay", "policy_scope",
    "personal_burden", "account", "family_account", "cash", "balance_after",
)
# The pooled fund's shares: zero unless the benefit is paid by the fund (account-only is not).
NO_FUND_SHARES = {"temporary_visit_prepay": ZERO, "deductible": ZERO, "pay_ratio_percent": ZERO, "fund": ZERO}


def new_claim(*, user, caller: Caller, request: SettlementRequest, fingerprint: str, member: Member,
              payer: Member | None, policy_version: PolicyVersion | None, result, response: dict, **benefit_columns) -> Claim:
    """The row of a settlement, built the same way for every benefit (pooling, account-only,
    chronic; written by insert_claim): who sent it (the caller, the request's remote provider),
    the request's reference and fingerprint, the member and the family-sharing payer, the visit,
    the policy version applied, the bill's shares read off the calculator's `result` by name
    (BILL_SHARES), who settled it and the response. `benefit_columns` are what only the benefit
    decides (its Claim.Benefit, use_account, the pooled fund's shares — zero when not given —,
    the relative treated, ...); naming a common column there is a TypeError, and a column no one
    names keeps the model's default."""
    return Claim(
        submitter=caller.submitter,
        external_ref=request.external_ref,
        request_hash=fingerprint,
        provider=caller.provider,
        remote_provider_code=request.remote_provider_code or "",
        remote_provider_name=request.remote_provider_name or "",
        provider_level=caller.provider_level or caller.provider_kind,
        member=member,
        payer=payer,
        visit_date=request.visit_date,
        year=request.visit_date.year,
        visit_place=request.visit_place,
        policy_version=policy_version,
        settled_by=user,
        response=response,
        **{name: getattr(result, name) for name in BILL_SHARES},
        **{**NO_FUND_SHARES, **benefit_columns},
    )


def _claim_settle(*, user, request: SettlementRequest, fingerprint: str) -> dict:
    # In settle_once's transaction.atomic().
    if request.benefit == Claim.Benefit.CHRONIC_SPECIAL:
        from .chronic import chronic_settle

        return chronic_settle(user=user, request=request, fingerprint=fingerprint)
    prepared = _prepare(user=user, request=request)
    # Lock order: the member's year row, then the paying account (members.services.account_lock
    # orders by pk). Balances and the year are read only after their locks.
    year = _lock_year(prepared.member.pk, request.visit_date.year)
    account = None
    if prepared.paying_account_id is not None:
        account = account_lock(account_ids=[prepared.paying_account_id])[prepared.paying_account_id]
    result = _compute(prepared, year, account.balance if account is not None else None)
    response = _render(prepared, result, request)

    claim = new_claim(
        user=user, caller=prepared.caller, request=request, fingerprint=fingerprint, member=prepared.member,
        payer=prepared.payer, policy_version=prepared.policy, result=result, response=response,
        benefit=Claim.Benefit.OUTPATIENT_POOLING,
        prescribed_by=prepared.prescriber,
        use_account=request.use_account,
        temporary_visit=result.temporary_visit,
        temporary_visit_prepay=result.temporary_visit_prepay,
        deductible=result.deductible,
        deductible_institution=result.deductible_institution,
        pay_ratio_percent=result.ratio,
        fund=result.fund,
        large_expense_subsidy=result.large_expense_subsidy,
        large_expense_burden_added=result.year.large_expense_burden - year.large_expense_burden,
        large_expense_pending_base=result.large_expense_pending_base,
        denied_reason=result.denied_reason or "",
        counts_toward_annual_fund_maximum=result.counts_toward_annual_fund_maximum,
    )
    insert_claim(claim, result.lines, prepared.items)
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
    year.deductible_met = result.year.deductible_met
    year.fund_paid = result.year.fund_paid
    year.cap = result.year.cap
    year.large_expense_burden = result.year.large_expense_burden
    year.large_expense_subsidy_paid = result.year.large_expense_subsidy_paid
    year.large_expense_pending_base += result.large_expense_pending_base
    fields = ["deductible_met", "fund_paid", "cap", "large_expense_burden", "large_expense_subsidy_paid", "large_expense_pending_base", "updated_at"]
    if result.deductible_institution:
        # Jinan (四) until 2023-12-31: each institution's own deductible.
        key = result.deductible_institution
        met = Decimal((year.deductible_by_institution or {}).get(key, "0")) + result.deductible
        year.deductible_by_institution = {**(year.deductible_by_institution or {}), key: f"{met:.2f}"}
        fields.append("deductible_by_institution")
    update(year, fields)
    audit(
        actor=user,
        action=AuditAction.CLAIM_SETTLE,
        target=claim,
        label=f"{prepared.caller.submitter}/{request.external_ref}",
        member=prepared.member.masked_id_number,
        fund=response["fund"],
        account=response["account"],
        family_account=response["family_account"],
    )
    return {"settlement_id": claim.pk, **response}


def _may_reverse(user, claim: Claim) -> bool:
    link = staff_link(user)
    if link is not None:
        own = link.provider.code if link.provider_id else CROSS_REGION_SUBMITTER
        return own == claim.submitter
    # The agency reverses with the same permission as the admin's reverse action: 稽核 and
    # 系统管理 read claims but never change one (Ziyang 第十九条: separated duties).
    return is_agency_staff(user) and user.has_perm("claims.change_claim")


@transaction.atomic
def claim_reverse(*, user, settlement_id: int, reason: str = "") -> dict:
    """撤销结算: give the fund, deductible and cap back to the member's year and refund the
    account by reversing entries. Reversing twice answers with the first reversal."""
    claim = Claim.objects.select_for_update(of=("self",)).filter(pk=settlement_id).first()
    if claim is None:
        raise NotFound(_("No such settlement."), code="settlement_not_found", details={"settlement_id": settlement_id})
    if not _may_reverse(user, claim):
        raise Forbidden(_("Only the provider that settled it, or the agency, may reverse a settlement."), details={"settlement_id": settlement_id})
    if claim.status == Claim.Status.REVERSED:
        return claim.reversal_response

    # An account-only settlement never touched the member's year (CONTRACT.md).
    year = _lock_year(claim.member_id, claim.year) if claim.benefit != Claim.Benefit.PERSONAL_ACCOUNT else None
    # A chronic claim's deductible and fund belong to its disease's tally (locked after the
    # year, before the accounts: the settlement's lock order).
    chronic_tally = None
    if claim.benefit == Claim.Benefit.CHRONIC_SPECIAL:
        from .chronic import chronic_tally_lock

        chronic_tally = chronic_tally_lock(claim)
    entries = list(
        LedgerEntry.objects.filter(
            reference=claim.ledger_reference,
            kind__in=[LedgerEntry.Kind.SETTLEMENT_PAYMENT, LedgerEntry.Kind.FAMILY_SHARING_PAYMENT],
        ).order_by("pk")
    )
    balance_after = None
    if entries:
        locked = account_lock(account_ids=sorted({entry.account_id for entry in entries}))
        for entry in entries:
            entry.account = locked[entry.account_id]
            refund = account_reverse_entry(entry=entry, reference=claim.ledger_reference, memo=reason[:200], user=user)
            # A withdrawal closed the account since: the refund waits for an approved payout
            # (listed in the admin), never stranded in the closed account.
            account_late_refund_record(account=entry.account, entry=refund, user=user)
            balance_after = refund.balance_after
    if year is not None:
        if chronic_tally is None:
            year.deductible_met = max(Decimal(0), year.deductible_met - claim.deductible)
            year.fund_paid = max(Decimal(0), year.fund_paid - claim.fund)
            if claim.deductible_institution:
                # Jinan (四): back to the institution's own deductible.
                by_institution = dict(year.deductible_by_institution or {})
                met = Decimal(by_institution.get(claim.deductible_institution, "0")) - claim.deductible
                by_institution[claim.deductible_institution] = f"{max(Decimal(0), met):.2f}"
                year.deductible_by_institution = by_institution
        else:
            # Ziyang 第十一条: the chronic fund given back to the pooled fund's yearly maximum.
            year.chronic_fund_paid = max(Decimal(0), year.chronic_fund_paid - claim.fund)
        year.large_expense_burden = max(Decimal(0), year.large_expense_burden - claim.large_expense_burden_added)
        year.large_expense_subsidy_paid = max(Decimal(0), year.large_expense_subsidy_paid - claim.large_expense_subsidy)
        if claim.large_expense_pending_base and SubsidyPayment.objects.filter(claim=claim, batch__status=SubsidyBatch.Status.APPROVED).exists():
            # Jinan (七): its second payment was already paid: a negative entry takes it back in
            # the version's next batch (the paid one is never edited). The caller was checked
            # above (_may_reverse): the take-back has no role check of its own.
            from .subsidy_batches import _subsidy_take_back_record

            _subsidy_take_back_record(user=user, claim=claim)
        elif claim.large_expense_pending_base:
            # Jinan (七): a second payment still pending is simply no longer due (an unapproved
            # batch drops the claim when it is approved).
            year.large_expense_pending_base = max(Decimal(0), year.large_expense_pending_base - claim.large_expense_pending_base)
        year.save(update_fields=["deductible_met", "fund_paid", "large_expense_burden", "large_expense_subsidy_paid", "large_expense_pending_base", "deductible_by_institution", "chronic_fund_paid", "updated_at"])

    claim.status = Claim.Status.REVERSED
    claim.reversed_at = timezone.now()
    claim.reversed_by = user
    claim.reversal_reason = reason[:200]
    claim.reversal_response = {
        "settlement_id": claim.pk,
        "status": Claim.Status.REVERSED.value,
        "reversed_at": timezone.localtime(claim.reversed_at).isoformat(),  # one zone in answers: +08:00
        "fund": _money(-claim.fund),
        "account_refund": _money(claim.account),
        "family_account_refund": _money(claim.family_account),
        "balance_after": _money(balance_after),
        "year": {
            "deductible_met": _money(year.deductible_met),
            "fund_paid": _money(year.fund_paid),
            "cap": _money(year.cap),
            "cap_remaining": _money(year.cap_remaining),
        } if year is not None else None,
    }
    if chronic_tally is not None:
        from .chronic import chronic_tally_give_back

        claim.reversal_response["year"] = chronic_tally_give_back(chronic_tally, claim)
    claim.save(update_fields=["status", "reversed_at", "reversed_by", "reversal_reason", "reversal_response"])
    audit(actor=user, action=AuditAction.CLAIM_REVERSE, target=claim, label=f"{claim.submitter}/{claim.external_ref}", reason=reason[:200])
    return claim.reversal_response


def member_benefits(*, user, id_number: str, year: int) -> dict:
    """The member's year as a provider reads it at registration (like the national 1101).
    Every read is logged with who asked."""
    id_number = normalize_id_number(id_number)
    member = Member.objects.select_related("account").filter(id_number=id_number).first()
    audit(actor=user, action=AuditAction.MEMBER_BENEFITS_READ, target=member, label=mask_id_number(id_number), year=year)
    if member is None:
        raise NotFound(_("No member has this ID number."), code="member_not_found", details={"id_number": mask_id_number(id_number)})
    row = MemberYear.objects.filter(member=member, year=year).first()
    today = timezone.localdate()
    day = min(today, date(year, 12, 31)) if year <= today.year else date(year, 1, 1)
    enrollment = member.enrollment_on(day)
    cap = row.cap if row is not None else None
    if cap is None and enrollment is not None:
        policy = policy_version_on(day)
        if policy is not None:
            situation = calc.MemberSituation(
                employment_status=enrollment.employment_status, scheme=enrollment.scheme,
                pre_1949_veteran=enrollment.pre_1949_veteran,
            )
            try:
                cap = calc.annual_cap(
                    calc.PolicyInput(policy.region, policy.parameters, reference_for(policy.parameters)), situation, year
                )
            except calc.CalculationRefused:
                cap = None
    fund_paid = row.fund_paid if row else Decimal("0.00")
    account = member.account if hasattr(member, "account") else None
    # Ziyang 第十一条: what is left of the pooled fund's yearly maximum (outpatient and inpatient).
    maximum_left = None
    if enrollment is not None:
        in_force = policy_version_on(day)
        if in_force is not None:
            try:
                maximum_left = calc.fund_maximum_left(
                    calc.PolicyInput(in_force.region, in_force.parameters, reference_for(in_force.parameters)),
                    calc.MemberSituation(employment_status=enrollment.employment_status, scheme=enrollment.scheme),
                    calc.YearSoFar(fund_paid=fund_paid, inpatient_fund_paid=row.inpatient_fund_paid if row else Decimal("0.00"),
                                   chronic_fund_paid=row.chronic_fund_paid if row else Decimal("0.00")),
                )
            except calc.CalculationRefused:
                maximum_left = None
    return {
        "annual_fund_maximum_remaining": _money(maximum_left),
        "id_number": mask_id_number(member.id_number),
        "year": year,
        "deductible_met": _money(row.deductible_met if row else Decimal("0.00")),
        "fund_paid": _money(fund_paid),
        "cap": _money(cap),
        "cap_remaining": _money(max(cap - fund_paid, Decimal("0.00")) if cap is not None else None),
        "large_expense_burden": _money(row.large_expense_burden if row else Decimal("0.00")),
        # Jinan (七): the burden above the threshold whose second payment awaits the ratio.
        "large_expense_subsidy_pending": _money(row.large_expense_pending_base if row else Decimal("0.00")),
        "account_balance": _money(account.balance if account is not None else None),
        "status": member.status,
        "employment_status": enrollment.employment_status if enrollment else None,
        "scheme": enrollment.scheme if enrollment else None,
    }
