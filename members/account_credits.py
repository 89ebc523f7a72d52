"""The monthly personal-account credit (个人账户计入), as pure code: no ORM, no settings.

Policy digest §3.1 (`shared/policy/rules.md`). The region's rules are data (a `Policy` of
`Rule`s loaded from `members/policies/<region>.json`); this module turns them into

- `credit_plan(policy, month, references)`: for one month, the ordered list of `Formula`s —
  who a formula applies to (effective employment status, category, sector, civil-servant flag,
  age band as a birth-date bound) and what it credits (a fixed amount, or a ratio of one of the
  member's own amounts). Everything that depends only on the month and the reference data
  (average pensions) is computed here, once, in Python;
- `member_credits(plan, month, member)`: the credits of one member for that month.

The monthly run (`members.account_credit_sql`) evaluates the very same plan in SQL, set-based; the
tests check that both give the same amounts and skip reasons.

Rounding: once per credit, to the fen, half up (`core.money.to_fen`): a fixed amount is
`to_fen(average × percent / 100)`; a member-dependent amount is `to_fen(basis × ratio)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from core.money import to_fen

MONTHLY_CREDIT = "monthly_credit"
CIVIL_SERVANT_SUBSIDY = "civil_servant_subsidy"
CREDIT_KINDS = (MONTHLY_CREDIT, CIVIL_SERVANT_SUBSIDY)

IN_SERVICE = "in_service"
RETIRED = "retired"

RETIREMENT_MONTH = "retirement_month"
MONTH_AFTER_RETIREMENT = "month_after_retirement"

# Bases of a rule (CreditRule.Basis) and, in a plan, of a formula ("fixed" once computed).
CONTRIBUTION_BASE = "contribution_base"
MONTHLY_PENSION = "monthly_pension"
AVERAGE_PENSION = "average_pension"
OWN_CREDITS_OF_YEAR = "own_credits_of_year"
CIVIL_SERVANT_BASE = "civil_servant_base"
NONE = "none"
FIXED = "fixed"

# Why a member got no monthly credit. The SQL run uses the same codes.
SKIP_MEMBER_INACTIVE = "member_inactive"
SKIP_NOT_ENROLLED = "not_enrolled"
SKIP_POOLED_ONLY = "pooled_only"
SKIP_ACCOUNT_CLOSED = "account_closed"
SKIP_NO_RULE = "no_rule"
SKIP_FOR_BASIS = {
    CONTRIBUTION_BASE: "no_contribution_base",
    MONTHLY_PENSION: "no_pension",
    OWN_CREDITS_OF_YEAR: "no_prior_year_credits",
    CIVIL_SERVANT_BASE: "no_civil_servant_base",
    FIXED: "zero_amount",
}


class MissingReference(Exception):
    """The rules of the month need data that is not there (an average pension, a percentage)."""

    def __init__(self, missing: list[str]):
        self.missing = sorted(set(missing))
        super().__init__("; ".join(self.missing))


@dataclass(frozen=True)
class Rule:
    cite: str
    valid_from: date  # first day of the first month
    valid_to: date | None  # first day of the last month; None: open-ended
    basis: str
    credit_kind: str = MONTHLY_CREDIT
    employment_status: str = ""  # "" = any
    category: str = ""
    sector: str = ""
    civil_servant_only: bool = False
    min_age: int | None = None  # the member has turned min_age by the end of the month
    max_age: int | None = None  # the member has not turned max_age + 1 by the end of the month
    percent: Decimal | None = None  # None: left open by the document (param) and not configured
    divisor: int | None = None
    reference_year: int | None = None
    reference_sector: str = ""  # "", "enterprise", "government" or "member" (the member's own)
    anchor_month: date | None = None
    skip_reason: str = ""


@dataclass(frozen=True)
class Policy:
    region: str
    version: str
    retiree_rates_from: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Formula:
    """One branch of the month's plan: a predicate on the member and what it credits."""

    credit_kind: str
    cite: str
    employment_status: str
    category: str
    sector: str
    civil_servant_only: bool
    born_before: date | None  # age band lower bound, as a birth-date bound
    born_on_or_after: date | None  # age band upper bound
    basis: str  # FIXED, CONTRIBUTION_BASE, MONTHLY_PENSION, OWN_CREDITS_OF_YEAR, CIVIL_SERVANT_BASE, NONE
    fixed_amount: Decimal | None = None
    numerator: int = 1  # amount = to_fen(basis × numerator / denominator)
    denominator: int = 1
    year: int | None = None  # OWN_CREDITS_OF_YEAR
    anchor_end: date | None = None  # CIVIL_SERVANT_BASE: last day of the anchor month
    skip_reason: str = ""
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    month: date
    retiree_rates_from: str
    formulas: tuple[Formula, ...]

    def for_kind(self, kind: str) -> list[Formula]:
        return [formula for formula in self.formulas if formula.credit_kind == kind]

    @property
    def retirement_cutoff(self) -> date:
        """Retiree rates apply when `retired_on` is before this day.

        Zaozhuang 第七条(二)3 (当月): retired in or before this month → before next month's 1st.
        Jinan (十四) (次月): retired before this month → before this month's 1st.
        """
        if self.retiree_rates_from == MONTH_AFTER_RETIREMENT:
            return self.month
        return add_months(self.month, 1)


@dataclass(frozen=True)
class Spell:
    """One enrollment spell (Enrollment row)."""

    effective_from: date
    employment_status: str
    scheme: str = "combined"
    category: str = "employee"
    sector: str = "enterprise"
    civil_servant: bool = False
    civil_servant_regularized: bool = False  # the spell starts at 转正定级 (Zaozhuang 第七条(三))
    contribution_base: Decimal | None = None
    monthly_pension: Decimal | None = None
    retired_on: date | None = None


@dataclass(frozen=True)
class MemberFacts:
    birth_date: date
    spells: tuple[Spell, ...]
    status: str = "active"
    died_on: date | None = None
    account_status: str | None = None  # None: no account yet (the run opens one)
    carried_over_credits: Decimal | None = None
    carried_over_as_of: date | None = None
    # Sum of the account's credit entries by calendar year, from the ledger.
    ledger_credits_by_year: Mapping[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberResult:
    credits: dict[str, Decimal]  # kind -> amount (> 0)
    skip_reason: str | None  # why no monthly credit, else None
    cites: dict[str, str] = field(default_factory=dict)


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def last_day(month: date) -> date:
    return add_months(month, 1) - timedelta(days=1)


def turned_age_bound(month: date, age: int) -> date:
    """A member has turned `age` by the end of `month` iff born before the returned day.

    Reading (account_credit_cases C2): the 70-and-over rate applies from the month in which the
    member turns 70, whatever the day of birth in that month.
    """
    shifted = date(month.year - age, month.month, 1)
    return add_months(shifted, 1)


def ratio_of_percent(percent: Decimal) -> tuple[int, int]:
    """A percentage with at most two decimals as an exact fraction (2.25 → 225/10000)."""
    hundredths = Decimal(percent) * 100
    if hundredths != hundredths.to_integral_value():
        raise ValueError(f"percent {percent} has more than two decimals")
    return int(hundredths), 10000


References = Mapping[tuple[str, int, str], Decimal]


def credit_plan(policy: Policy, month: date, references: References) -> Plan:
    """The month's formulas, in rule order. A rule needing absent data carries `missing`."""
    month = month_start(month)
    formulas = []
    for rule in policy.rules:
        if rule.valid_from > month or (rule.valid_to is not None and rule.valid_to < month):
            continue
        base = {
            "credit_kind": rule.credit_kind,
            "cite": rule.cite,
            "employment_status": rule.employment_status,
            "category": rule.category,
            "sector": rule.sector,
            "civil_servant_only": rule.civil_servant_only,
            "born_before": turned_age_bound(month, rule.min_age) if rule.min_age is not None else None,
            "born_on_or_after": turned_age_bound(month, rule.max_age + 1) if rule.max_age is not None else None,
        }
        where = f"{policy.region} {rule.cite} ({month:%Y-%m})"
        if rule.basis == NONE:
            formulas.append(Formula(**base, basis=NONE, skip_reason=rule.skip_reason or "no_account"))
            continue
        if rule.basis == OWN_CREDITS_OF_YEAR:
            formulas.append(Formula(**base, basis=OWN_CREDITS_OF_YEAR, numerator=1,
                                    denominator=rule.divisor or 1, year=rule.reference_year))
            continue
        if rule.percent is None:
            formulas.append(Formula(**base, basis=rule.basis, missing=(f"{where}: percent not configured",)))
            continue
        numerator, denominator = ratio_of_percent(rule.percent)
        if rule.basis == AVERAGE_PENSION:
            sectors = ["enterprise", "government"] if rule.reference_sector == "member" else [rule.reference_sector]
            for sector in sectors:
                value = references.get(("average_pension", rule.reference_year, sector))
                fixed = dict(base, sector=sector if rule.reference_sector == "member" else base["sector"])
                if value is None:
                    label = f"average_pension {rule.reference_year}" + (f" {sector}" if sector else "")
                    formulas.append(Formula(**fixed, basis=FIXED, missing=(f"{where}: {label}",)))
                else:
                    # The fixed amount rounds once, to the fen.
                    formulas.append(Formula(**fixed, basis=FIXED, fixed_amount=to_fen(value * rule.percent / 100)))
            continue
        if rule.basis == CIVIL_SERVANT_BASE:
            anchor = rule.anchor_month or month
            formulas.append(Formula(**base, basis=CIVIL_SERVANT_BASE, numerator=numerator,
                                    denominator=denominator, anchor_end=last_day(anchor)))
            continue
        formulas.append(Formula(**base, basis=rule.basis, numerator=numerator, denominator=denominator))
    return Plan(month=month, retiree_rates_from=policy.retiree_rates_from, formulas=tuple(formulas))


def spell_on(spells, day: date) -> Spell | None:
    current = None
    for spell in sorted(spells, key=lambda s: s.effective_from):
        if spell.effective_from <= day:
            current = spell
    return current


def effective_status(spell: Spell, plan: Plan) -> str:
    """Retiree rates from the month of retirement or the month after, by region (§3.1 transitions)."""
    if spell.employment_status == RETIRED and (spell.retired_on is None or spell.retired_on < plan.retirement_cutoff):
        return RETIRED
    return IN_SERVICE


def contribution_base(member: MemberFacts, spell: Spell, end: date) -> Decimal | None:
    """In service: the base of the spell in force; in the month of retirement before retiree
    rates apply (Jinan 次月), the base of the last in-service spell."""
    if spell.employment_status == IN_SERVICE:
        return spell.contribution_base
    earlier = [s for s in member.spells if s.employment_status == IN_SERVICE and s.effective_from <= end]
    return max(earlier, key=lambda s: s.effective_from).contribution_base if earlier else None


def civil_servant_base(member: MemberFacts, status: str, anchor_end: date, end: date | None = None) -> Decimal | None:
    """Zaozhuang 第七条(三): fixed 2.5% of the December 2022 base (pension for retirees); for new
    hires, of the first month's probation wage until 转正定级 and, from the month it starts, of the
    wage of the first month after it (the spell marked `civil_servant_regularized`, once it has
    started by `end`); for new retirees, of the first pension after retirement."""
    column = "monthly_pension" if status == RETIRED else "contribution_base"
    spells = sorted(
        (s for s in member.spells if s.employment_status == status and s.civil_servant),
        key=lambda s: s.effective_from,
    )
    before = [s for s in spells if s.effective_from <= anchor_end]
    after = [s for s in spells if s.effective_from > anchor_end]
    if status != RETIRED and end is not None:
        regularized = [s for s in after if s.civil_servant_regularized and s.effective_from <= end]
        after = regularized[:1] + after
    for candidate in ([before[-1]] if before else []) + after[:1]:
        value = getattr(candidate, column)
        if value is not None:
            return value
    return None


def own_credits_of_year(member: MemberFacts, year: int) -> Decimal | None:
    """Yangzhou 二(二)2: the member's own credits of `year`: carried over from the previous system
    when the carry-over was as of that year's end, else the ledger's credit entries of that year."""
    if member.carried_over_as_of in (date(year, 12, 31), date(year + 1, 1, 1)):
        return member.carried_over_credits
    return member.ledger_credits_by_year.get(year)


def _matches(formula: Formula, member: MemberFacts, spell: Spell, status: str) -> bool:
    if formula.employment_status and formula.employment_status != status:
        return False
    if formula.category and formula.category != spell.category:
        return False
    if formula.sector and formula.sector != spell.sector:
        return False
    if formula.civil_servant_only and not spell.civil_servant:
        return False
    if formula.born_before is not None and not member.birth_date < formula.born_before:
        return False
    if formula.born_on_or_after is not None and not member.birth_date >= formula.born_on_or_after:
        return False
    return True


def _amount(formula: Formula, member: MemberFacts, spell: Spell, status: str, end: date) -> Decimal | None:
    if formula.basis == FIXED:
        return formula.fixed_amount
    if formula.basis == CONTRIBUTION_BASE:
        basis = contribution_base(member, spell, end)
    elif formula.basis == MONTHLY_PENSION:
        basis = spell.monthly_pension
    elif formula.basis == OWN_CREDITS_OF_YEAR:
        basis = own_credits_of_year(member, formula.year)
    elif formula.basis == CIVIL_SERVANT_BASE:
        basis = civil_servant_base(member, status, formula.anchor_end, end)
    else:
        return None
    if basis is None:
        return None
    # The only rounding step: basis × ratio, to the fen, half up.
    return to_fen(Decimal(basis) * formula.numerator / formula.denominator)


def member_credits(plan: Plan, member: MemberFacts) -> MemberResult:
    """The credits of one member for the plan's month, and why not when there is none."""
    end = last_day(plan.month)
    if not (member.status == "active" or (member.status == "deceased" and member.died_on and member.died_on >= end)):
        return MemberResult({}, SKIP_MEMBER_INACTIVE)
    spell = spell_on(member.spells, end)  # the enrollment in force at the end of the month
    if spell is None:
        return MemberResult({}, SKIP_NOT_ENROLLED)
    # Ziyang 第五条(三), 第八条: a pooled-only member has no personal account.
    if spell.scheme != "combined":
        return MemberResult({}, SKIP_POOLED_ONLY)
    if member.account_status == "closed":
        return MemberResult({}, SKIP_ACCOUNT_CLOSED)
    status = effective_status(spell, plan)
    credits, cites, reason = {}, {}, None
    for kind in CREDIT_KINDS:
        formula = next((f for f in plan.for_kind(kind) if _matches(f, member, spell, status)), None)
        if formula is None:
            if kind == MONTHLY_CREDIT:
                reason = SKIP_NO_RULE
            continue
        if formula.missing:
            raise MissingReference(list(formula.missing))
        if formula.basis == NONE:
            if kind == MONTHLY_CREDIT:
                reason = formula.skip_reason
            continue
        amount = _amount(formula, member, spell, status, end)
        if amount is None or amount <= 0:
            if kind == MONTHLY_CREDIT:
                reason = SKIP_FOR_BASIS[formula.basis]
            continue
        credits[kind], cites[kind] = amount, formula.cite
    return MemberResult(credits, reason, cites)
