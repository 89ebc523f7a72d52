"""The outpatient-pooling settlement calculator (普通门诊统筹结算): one pure function.

`settle()` takes plain dataclasses and `Decimal` and returns every amount of the
settlement response. No ORM, no Django settings: the service reads the database, locks
what it changes, calls this, and writes the result.

The policy comes in as the parameters of one region policy version (the JSON format of
`claims/policies/FORMAT.md`). A parameter the documents leave open (**param**) may still be
empty: when the calculation needs it, `PolicyParameterMissing` names it.

Rounding (core.money.to_fen, half up, to the fen) happens at exactly these steps:
  R1  a line amount: quantity × unit price;
  R2  a line's over-limit amount: quantity × (unit price − payment standard);
  R3  a class-B line's prepay share: its allowed amount × prepay percent;
  R4  the temporary-visit prepay: policy-scope amount × prepay percent;
  R5  an amount derived from the average wage: wage × percent (Yangzhou);
  R6  a halved first-year cap: cap × first-year percent (Henan);
  R7  the fund amount: (policy scope − temporary prepay − deductible) × ratio;
  R8  the large-amount subsidy: the burden above its threshold × subsidy ratio (Jinan).
Every other amount is a sum, difference or minimum of amounts already in fen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from core.money import ZERO, to_fen

HUNDRED = Decimal(100)

IN_SERVICE, RETIRED = "in_service", "retired"
COMBINED, POOLED_ONLY = "combined", "pooled_only"
LOCAL, IN_PROVINCE, OUT_OF_PROVINCE = "local", "in_province", "out_of_province"
INSTITUTION, PHARMACY = "institution", "pharmacy"

# Policy levels a ratio or deductible table may name. A table may name a finer class; when it
# does not, the class falls back to the level it belongs to (reading, rules.md §2.1 and §4:
# "level 1 and below" includes village clinics, community stations and health centres; a
# provincial tertiary-A hospital is level 3).
LEVELS = (
    "level_1", "level_2", "level_3", "provincial_tertiary_a",
    "township_health_centre", "community_health_centre", "village_clinic",
)
LEVEL_FALLBACK = {
    "village_clinic": "level_1",
    "township_health_centre": "level_1",
    "community_health_centre": "level_1",
    "provincial_tertiary_a": "level_3",
}

DENIED_INPATIENT_STAY = "inpatient_stay"
DENIED_LTC_MEDICAL_CARE = "ltc_medical_care"
DENIED_MEMBER_INACTIVE = "member_inactive"
DENIED_MEMBER_DECEASED = "member_deceased"
DENIED_PROVIDER_NOT_COVERED = "provider_not_covered"
# Zaozhuang 第十一条: these episodes switch outpatient pooling off (LTC home and
# institutional care do not).
SUSPENDING_EPISODES = (DENIED_INPATIENT_STAY, DENIED_LTC_MEDICAL_CARE)


class CalculationRefused(Exception):
    """The calculation cannot be made; the service turns this into a refusal."""

    code = "calculation_refused"

    def __init__(self, parameter: str):
        self.parameter = parameter
        super().__init__(parameter)


class PolicyParameterMissing(CalculationRefused):
    """A parameter the policy version leaves empty (**param**) is needed."""

    code = "policy_parameter_missing"


class InstitutionNotChosen(CalculationRefused):
    """Jinan (四) until 2023-12-31: the visit is not at one of the member's chosen institutions."""

    code = "institution_not_chosen"


class PrescriptionRequired(CalculationRefused):
    """The region pays a pharmacy at the prescribing institution's ratio, and none was given."""

    code = "prescription_required"


# ---------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class CatalogFacts:
    code: str
    item_class: str  # "A", "B", "C"
    prepay_percent: Decimal | None = None
    payment_standard: Decimal | None = None


@dataclass(frozen=True)
class LineInput:
    item: CatalogFacts
    quantity: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class VisitInput:
    visit_date: date
    lines: tuple[LineInput, ...]
    provider_kind: str = INSTITUTION  # "institution" or "pharmacy"
    # The level whose policy applies: an internet hospital's is its physical institution's
    # (Jinan (十二)); a remote provider's is the one the cross-region platform sends.
    provider_level: str = ""
    prescriber_level: str | None = None  # external prescription filled at a pharmacy
    visit_place: str = LOCAL
    # Henan 第三章: whether the institution has inpatient beds (住院资格); a remote one is taken to.
    provider_inpatient_beds: bool = True
    # Jinan (五): the six-digit division code of the place of treatment (cross-region platform).
    treatment_division_code: str = ""
    use_account: bool = False
    family_payer: bool = False  # the account that pays is a linked relative's (家庭共济)
    # Jinan (四) until 2023-12-31: the institution whose deductible this visit counts toward
    # (the provider, a pharmacy's prescribing institution, or the remote provider), and whether
    # it is among the member's chosen institutions on the visit date (None: not looked up).
    deductible_institution: str = ""
    at_chosen_institution: bool | None = None


@dataclass(frozen=True)
class MemberSituation:
    """The member's facts on the visit date."""

    employment_status: str
    scheme: str
    pre_1949_veteran: bool = False
    active: bool = True
    deceased: bool = False
    # Kinds of the episodes covering the visit date (inpatient_stay, ltc_medical_care, ...).
    episode_kinds: tuple[str, ...] = ()
    # Places of the long-term-residence registrations valid on the visit date that name no
    # division (anywhere in that place counts as the place of residence).
    registered_places: tuple[str, ...] = ()
    # (place, six-digit division code) of those that name one (Jinan (五): 在长期居住地).
    registered_divisions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class YearSoFar:
    deductible_met: Decimal = ZERO
    fund_paid: Decimal = ZERO
    large_expense_burden: Decimal = ZERO
    large_expense_subsidy_paid: Decimal = ZERO
    # Jinan (七): the inpatient system's compliant burden of the year (imported); it counts
    # toward the threshold, but the outpatient subsidy pays only on outpatient burden.
    inpatient_burden: Decimal = ZERO
    # Ziyang 第十一条: what the inpatient system paid from the pooled fund this year (imported).
    inpatient_fund_paid: Decimal = ZERO
    # Jinan (四) until 2023-12-31: paid toward the deductible at this visit's institution.
    institution_deductible_met: Decimal = ZERO
    # Ziyang 第十一条: what outpatient chronic and special disease benefits paid from the pooled
    # fund this year (every disease's tally together).
    chronic_fund_paid: Decimal = ZERO


@dataclass(frozen=True)
class PolicyInput:
    region: str
    parameters: Mapping
    # Reference data the parameters may derive amounts from: {("average_wage", 2021): Decimal}.
    reference: Mapping = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True)
class LineResult:
    code: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    fully_self_paid: Decimal
    over_limit: Decimal
    class_b_prepay: Decimal
    policy_scope: Decimal


@dataclass(frozen=True)
class YearAfter:
    deductible_met: Decimal
    fund_paid: Decimal
    cap: Decimal
    cap_remaining: Decimal
    large_expense_burden: Decimal
    large_expense_subsidy_paid: Decimal


@dataclass(frozen=True)
class SettlementResult:
    lines: tuple[LineResult, ...]
    total: Decimal
    fully_self_paid: Decimal
    over_limit: Decimal
    class_b_prepay: Decimal
    policy_scope: Decimal
    temporary_visit_prepay: Decimal
    deductible: Decimal
    ratio: Decimal
    fund: Decimal
    large_expense_subsidy: Decimal
    personal_burden: Decimal
    account: Decimal
    family_account: Decimal
    cash: Decimal
    balance_after: Decimal | None
    denied_reason: str | None
    temporary_visit: bool
    counts_toward_annual_fund_maximum: bool | None
    year: YearAfter
    # Jinan (七) with the ratio still open: the burden above the threshold whose second payment
    # is held until the ratio is set (the amount the ratio will apply to, not a payment).
    large_expense_pending_base: Decimal = ZERO
    # Jinan (四) until 2023-12-31: the institution whose own deductible this visit paid toward
    # ("" when the deductible is combined across institutions).
    deductible_institution: str = ""


# ---------------------------------------------------------------------------------------
# Reading parameters


def _need(value, name: str):
    if value is None:
        raise PolicyParameterMissing(name)
    return value


def _get(parameters: Mapping, path: str):
    """A parameter by dotted path; a missing key or null is a missing parameter."""
    node = parameters
    for key in path.split("."):
        if not isinstance(node, Mapping) or node.get(key) is None:
            raise PolicyParameterMissing(path)
        node = node[key]
    return node


def _optional(parameters: Mapping, path: str, default=None):
    node = parameters
    for key in path.split("."):
        if not isinstance(node, Mapping) or node.get(key) is None:
            return default
        node = node[key]
    return node


def resolve_money(cell, name: str, member: MemberSituation, reference: Mapping) -> Decimal:
    """A money cell of the policy format: a number, or an object keyed by scheme or by
    employment status, or a percent of a reference average wage (FORMAT.md, "money cell")."""
    if cell is None:
        raise PolicyParameterMissing(name)
    if isinstance(cell, Mapping):
        if "percent_of_average_wage" in cell:
            percent = _need(cell.get("percent_of_average_wage"), f"{name}.percent_of_average_wage")
            wage_year = int(_need(cell.get("wage_year"), f"{name}.wage_year"))
            wage = reference.get(("average_wage", wage_year))
            if wage is None:
                raise PolicyParameterMissing(f"average_wage.{wage_year}")
            return to_fen(Decimal(wage) * Decimal(str(percent)) / HUNDRED)  # R5
        if COMBINED in cell or POOLED_ONLY in cell:
            return resolve_money(cell.get(member.scheme), f"{name}.{member.scheme}", member, reference)
        if IN_SERVICE in cell or RETIRED in cell:
            status = member.employment_status
            return resolve_money(cell.get(status), f"{name}.{status}", member, reference)
        raise PolicyParameterMissing(name)
    return to_fen(Decimal(str(cell)))


def chosen_institutions_rule(parameters: Mapping) -> Mapping:
    """The version's `chosen_institutions` rule (Jinan (四)); {} when the version has none."""
    rule = _optional(parameters, "chosen_institutions")
    return rule if isinstance(rule, Mapping) else {}


def chosen_institutions_required(parameters: Mapping, visit_place: str = LOCAL) -> bool:
    """Jinan (四): until 2023-12-31 a local visit is paid only at a chosen institution. A visit
    outside the region is not: 外出就医…不限制定点医疗机构等级和数量 (Jinan (五))."""
    return bool(chosen_institutions_rule(parameters).get("required")) and visit_place == LOCAL


def deductible_per_institution(parameters: Mapping) -> bool:
    """Jinan (四): 自2024年1月起…定点医疗机构间起付标准合并计算 — before, each chosen institution
    has its own deductible."""
    return bool(chosen_institutions_rule(parameters).get("deductible_per_institution"))


def most_at_once(spans: list[tuple[date, date | None]]) -> int:
    """The most of `spans` (valid_from, valid_to or None: open) in force on any one day."""
    most = 0
    for day, _end in spans:
        at = sum(1 for start, end in spans if start <= day and (end is None or end >= day))
        most = max(most, at)
    return most


def _level_key(table: Mapping, level: str) -> str:
    if level in table:
        return level
    return LEVEL_FALLBACK.get(level, level)


def _percent(value) -> Decimal:
    return Decimal(str(value))


# ---------------------------------------------------------------------------------------
# The calculation


def price_lines(lines: tuple[LineInput, ...]) -> tuple[LineResult, ...]:
    """Split each line into fully self-paid, over-limit, class-B prepay and policy scope.

    Policy scope = amount − fully self-paid − over-limit − class-B prepay (rules.md §2:
    costs outside the catalog, above a payment standard, and the first self-paid share of
    class-B items are not policy-scope).
    """
    results = []
    for line in lines:
        amount = to_fen(line.quantity * line.unit_price)  # R1
        fully_self_paid = over_limit = prepay = ZERO
        if line.item.item_class == "C":
            fully_self_paid = amount  # 丙类: fully self-paid (全自费)
        else:
            standard = line.item.payment_standard
            if standard is not None and line.unit_price > standard:
                # 超限价自费: the part of the price above the payment standard.
                over_limit = min(amount, to_fen(line.quantity * (line.unit_price - standard)))  # R2
            allowed = amount - over_limit
            if line.item.item_class == "B" and line.item.prepay_percent:
                prepay = to_fen(allowed * line.item.prepay_percent / HUNDRED)  # R3 乙类先行自付
        results.append(
            LineResult(
                code=line.item.code,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=amount,
                fully_self_paid=fully_self_paid,
                over_limit=over_limit,
                class_b_prepay=prepay,
                policy_scope=amount - fully_self_paid - over_limit - prepay,
            )
        )
    return tuple(results)


def annual_cap(policy: PolicyInput, member: MemberSituation, year: int) -> Decimal:
    """The member's annual cap (最高支付限额) for the year, by scheme and employment status."""
    parameters, reference = policy.parameters, policy.reference
    cap = resolve_money(_optional(parameters, "annual_cap"), "annual_cap", member, reference)
    first_year = _optional(parameters, "first_year")
    if first_year and int(first_year.get("year") or 0) == year:
        # Henan 第三章: 实施当年最高支付限额减半 — the first implementation year's cap is halved.
        cap_percent = _percent(_get(parameters, "first_year.cap_percent"))
        cap = to_fen(cap * cap_percent / HUNDRED)  # R6
    return cap


def division_within(code: str, area: str) -> bool:
    """Whether division `code` lies in `area` (GB/T 2260: 440000 a province, 440300 a city,
    440305 a district; trailing pairs of zeros widen the area)."""
    if not code or not area:
        return False
    prefix = area
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return code.startswith(prefix)


def registered_for(visit: VisitInput, member: MemberSituation) -> bool:
    """Zaozhuang 第六条, Jinan (五): a visit outside the region is settled as local only in the
    place of the member's long-term-residence registration (在长期居住地); a registration that
    names its division covers visits whose place of treatment lies within it."""
    if visit.visit_place in member.registered_places:
        return True
    return any(
        place == visit.visit_place and division_within(visit.treatment_division_code, code)
        for place, code in member.registered_divisions
    )


def fund_maximum_left(policy: PolicyInput, member: MemberSituation, year: YearSoFar) -> Decimal | None:
    """What is left of the pooled fund's yearly maximum (统筹基金最高支付限额) when outpatient
    pooling counts toward it and the agency has set it (`annual_fund_maximum`); else None."""
    parameters = policy.parameters
    cell = _optional(parameters, "annual_fund_maximum")
    if cell is None or not _optional(parameters, "counts_toward_annual_fund_maximum", False):
        return None
    maximum = resolve_money(cell, "annual_fund_maximum", member, policy.reference)
    # Ziyang 第十一条: 职工门诊自然年度支付总金额 — all outpatient payments of the year: ordinary
    # pooling and, by 第十二条 (门诊共济保障方式 includes 两病 and 门诊慢特病), chronic and special
    # disease benefits — count with the inpatient fund toward 统筹基金最高支付限额.
    return max(ZERO, maximum - year.inpatient_fund_paid - year.fund_paid - year.chronic_fund_paid)


def denial_reason(member: MemberSituation) -> str | None:
    if member.deceased:
        return DENIED_MEMBER_DECEASED
    if not member.active:
        return DENIED_MEMBER_INACTIVE
    # Zaozhuang 第十一条: no outpatient pooling during an inpatient stay or long-term-care
    # medical special care (医疗专护); home and institutional care keep it.
    for reason in SUSPENDING_EPISODES:
        if reason in member.episode_kinds:
            return reason
    return None


def _policy_level(policy: PolicyInput, visit: VisitInput) -> tuple[str, str | None]:
    """(level for the deductible and ratio tables, denial reason or None)."""
    parameters = policy.parameters
    level = visit.provider_level
    if visit.provider_kind == PHARMACY:
        rule = _get(parameters, "pharmacy")
        if rule == "not_covered":
            return "", DENIED_PROVIDER_NOT_COVERED
        if rule == "prescribing_institution":
            # Yangzhou 二(一)4: same ratio as the prescribing institution; Zaozhuang 第十三条 and
            # Jinan (十): external prescriptions at pharmacies follow the institutions' policy.
            if not visit.prescriber_level:
                raise PrescriptionRequired("prescribed_by_code")
            level = visit.prescriber_level
        else:  # "table": Ziyang 第八条(一), 第十四条: pharmacies have their own ratio.
            level = PHARMACY
    covered = _optional(parameters, "covered_levels")
    if covered is not None and level != PHARMACY and level not in covered:
        # Henan 第三章: only the listed classes of institution are in outpatient pooling.
        return level, DENIED_PROVIDER_NOT_COVERED
    rule = _optional(parameters, "covered_institutions")
    if (
        rule is not None and visit.provider_kind == INSTITUTION and rule.get("inpatient_beds_required")
        and not visit.provider_inpatient_beds and level not in (rule.get("without_beds_levels") or [])
    ):
        # Henan 第三章: 有住院资格的定点医疗机构和乡镇卫生院、社区卫生服务中心 — an institution without
        # inpatient beds is covered only if it is a township or community health centre.
        return level, DENIED_PROVIDER_NOT_COVERED
    return level, None


def pay_ratio(
    policy: PolicyInput, member: MemberSituation, level: str, *, temporary_place: str | None
) -> Decimal:
    """The fund's ratio in percent: the level's in-service ratio plus the bonuses."""
    parameters = policy.parameters
    table = _get(parameters, "ratio.base")
    key = _level_key(table, level)
    ratio = _percent(_need(table.get(key), f"ratio.base.{key}"))
    if member.employment_status == RETIRED:
        # Zaozhuang 第五条(二) +5; Ziyang 第八条(一), Henan 第三章, Yangzhou 二(一)2(2) +10;
        # Jinan (二): none in 2023, +5 from 2024 (two policy versions).
        ratio += _percent(_get(parameters, "ratio.retired_bonus"))
    if member.pre_1949_veteran:
        # Jinan (二): pre-1949 veteran workers +5 over in-service (2023) / over retirees (2024).
        ratio += _percent(_get(parameters, "ratio.pre_1949_veteran_bonus"))
    if temporary_place:
        # Jinan (五): a temporary visit out of province is paid 10 points lower.
        points = _optional(parameters, f"temporary_visit.ratio_points.{temporary_place}", 0)
        ratio += _percent(points)
    return max(ZERO, min(HUNDRED, ratio))


def deductible_due(
    policy: PolicyInput, member: MemberSituation, level: str, year: YearSoFar
) -> Decimal:
    """What is still due toward the deductible (起付标准) on this visit, before the base caps it."""
    parameters, reference = policy.parameters, policy.reference
    mode = _get(parameters, "deductible.mode")
    cell = _optional(parameters, "deductible.amount")
    if mode == "annual_top_up":
        # Zaozhuang 第五条(一): each level has its own annual deductible, and what was paid
        # toward any of them this year counts at every level; a visit at a higher level pays
        # only the difference (累计补差).
        if cell is None:
            raise PolicyParameterMissing("deductible.amount")
        key = _level_key(cell, level)
        amount = resolve_money(cell.get(key), f"deductible.amount.{key}", member, reference)
        return max(ZERO, amount - year.deductible_met)
    if mode == "per_visit":
        # Henan 第三章: 40 per visit, none at township and community health centres.
        if level in (_optional(parameters, "deductible.exempt_levels", []) or []):
            return ZERO
        return resolve_money(cell, "deductible.amount", member, reference)
    # "annual": Ziyang 第八条(一) by employment status; Jinan (四) combined across
    # institutions; Yangzhou 二(一)2(1) from the 2021 average wage.
    amount = resolve_money(cell, "deductible.amount", member, reference)
    return max(ZERO, amount - year.deductible_met)


def settle(
    visit: VisitInput,
    member: MemberSituation,
    year: YearSoFar,
    policy: PolicyInput,
    *,
    account_balance: Decimal | None = None,
) -> SettlementResult:
    """Settle one outpatient visit under one policy version.

    `account_balance` is the balance of the account that would pay (the member's own, or the
    linked relative's when `visit.family_payer`), None when there is none to use.
    """
    parameters = policy.parameters
    lines = price_lines(visit.lines)
    total = sum((line.amount for line in lines), ZERO)
    fully_self_paid = sum((line.fully_self_paid for line in lines), ZERO)
    over_limit = sum((line.over_limit for line in lines), ZERO)
    class_b_prepay = sum((line.class_b_prepay for line in lines), ZERO)
    policy_scope = sum((line.policy_scope for line in lines), ZERO)

    denied = denial_reason(member)
    level, not_covered = ("", None) if denied else _policy_level(policy, visit)
    denied = denied or not_covered

    # Zaozhuang 第六条, Jinan (五): a registered long-term resident elsewhere (异地长期居住备案)
    # is settled as local; any other visit outside the region is a temporary visit.
    temporary = visit.visit_place != LOCAL and not registered_for(visit, member)

    if denied is None and chosen_institutions_required(parameters, visit.visit_place) and not visit.at_chosen_institution:
        # Jinan (四): until 2023-12-31 outpatient pooling pays only at the member's chosen
        # institutions (定点); a visit elsewhere is refused (nothing is settled).
        raise InstitutionNotChosen(visit.deductible_institution)
    per_institution = denied is None and deductible_per_institution(parameters) and bool(visit.deductible_institution)

    cap = annual_cap(policy, member, visit.visit_date.year)
    temporary_prepay = deductible = fund = subsidy = subsidy_pending = ZERO
    ratio = ZERO
    burden_added = ZERO
    if denied is None:
        if temporary:
            # Zaozhuang 第六条: on a temporary visit the member first pays 10% of the
            # policy-scope amount; the normal rule applies to the rest.
            prepay_percent = _percent(_optional(parameters, "temporary_visit.prepay_percent", 0))
            temporary_prepay = to_fen(policy_scope * prepay_percent / HUNDRED)  # R4
        base = policy_scope - temporary_prepay
        # Jinan (四): until 2023-12-31 each chosen institution has its own deductible; from 2024
        # 定点医疗机构间起付标准合并计算 (one per member and year).
        met = YearSoFar(deductible_met=year.institution_deductible_met) if per_institution else year
        deductible = min(base, deductible_due(policy, member, level, met))
        ratio = pay_ratio(policy, member, level, temporary_place=visit.visit_place if temporary else None)
        fund = to_fen((base - deductible) * ratio / HUNDRED)  # R7
        # Zaozhuang 第五条(三), Ziyang 第八条(一), Henan 第三章, Yangzhou 二(一)2(3), Jinan (三):
        # the fund pays at most the annual cap in a year.
        fund = max(ZERO, min(fund, cap - year.fund_paid))
        maximum = fund_maximum_left(policy, member, year)
        if maximum is not None:
            # Ziyang 第十一条: 职工门诊自然年度支付总金额计入职工医保年度统筹基金最高支付限额 — with what
            # the inpatient system paid, a settlement never takes the member past the maximum.
            fund = min(fund, maximum)

        subsidy_rule = _optional(parameters, "large_expense_subsidy")
        if subsidy_rule is not None:
            # Jinan (七): the member's compliant personal burden (policy-scope costs the fund did
            # not pay, below the deductible and above the cap included, plus the class-B first
            # self-paid share; never amounts above payment standards or outside the catalog)
            # accumulates over the year; above the threshold the subsidy pays again.
            burden_added = policy_scope + class_b_prepay - fund
            threshold = resolve_money(
                subsidy_rule.get("threshold"), "large_expense_subsidy.threshold", member, policy.reference
            )
            counted = year.large_expense_burden + year.inpatient_burden
            before = max(ZERO, counted - threshold)
            after = max(ZERO, counted + burden_added - threshold)
            if after > before:
                subsidy_percent = _optional(parameters, "large_expense_subsidy.ratio_percent")
                if subsidy_percent is None:
                    # Jinan (七) fixes the threshold but not the ratio. The fund's share does not
                    # depend on it: settle, and hold the burden above the threshold as pending;
                    # a batch pays it once the agency sets the ratio (claims/subsidy_batches.py).
                    subsidy_pending = after - before
                else:
                    subsidy = to_fen((after - before) * _percent(subsidy_percent) / HUNDRED)  # R8

    personal_burden = total - fund - subsidy
    account = family_account = ZERO
    balance_after = account_balance
    usable = visit.use_account or visit.family_payer
    if (
        usable
        and account_balance is not None
        and denied not in (DENIED_MEMBER_INACTIVE, DENIED_MEMBER_DECEASED)
        and (visit.family_payer or member.scheme == COMBINED)
    ):
        # rules.md §3.2 reading (Yangzhou 二(三)2, Ziyang 第六条): the account pays the whole
        # personal burden at a designated provider, up to its balance; a pooled-only member
        # (Ziyang 第五条(三)) has no account of their own. Family sharing (家庭共济) pays from a
        # linked spouse's, parent's or child's account instead.
        paid = min(personal_burden, account_balance)
        balance_after = account_balance - paid
        if visit.family_payer:
            family_account = paid
        else:
            account = paid
    cash = personal_burden - account - family_account

    counts = _optional(parameters, "counts_toward_annual_fund_maximum")
    year_after = YearAfter(
        deductible_met=year.deductible_met + deductible,
        fund_paid=year.fund_paid + fund,
        cap=cap,
        cap_remaining=max(ZERO, cap - year.fund_paid - fund),
        large_expense_burden=year.large_expense_burden + burden_added,
        large_expense_subsidy_paid=year.large_expense_subsidy_paid + subsidy,
    )
    return SettlementResult(
        lines=lines,
        total=total,
        fully_self_paid=fully_self_paid,
        over_limit=over_limit,
        class_b_prepay=class_b_prepay,
        policy_scope=policy_scope,
        temporary_visit_prepay=temporary_prepay,
        deductible=deductible,
        ratio=ratio,
        fund=fund,
        large_expense_subsidy=subsidy,
        personal_burden=personal_burden,
        account=account,
        family_account=family_account,
        cash=cash,
        balance_after=balance_after,
        denied_reason=denied,
        temporary_visit=temporary and denied is None,
        counts_toward_annual_fund_maximum=None if counts is None else bool(counts),
        year=year_after,
        large_expense_pending_base=subsidy_pending,
        deductible_institution=visit.deductible_institution if per_institution else "",
    )
