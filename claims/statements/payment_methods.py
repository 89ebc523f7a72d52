"""Payment methods (支付方式) on a provider's monthly statement and year-end settlement: a pure
calculator (no database), given the month's settlements' fund totals and the agreement's terms.

The texts: Zaozhuang 第十六条 and Ziyang 第二十二条 (按人头付费、按病种付费等复合式付费方式; per item
for what cannot be bundled), Yangzhou 三(二) (门诊统筹基金总额预算管理; capitation for primary
care; per disease for day surgery and special diseases; per item for the rest), Jinan (十六)
(the same, and 单独支付的国家医保谈判药品不纳入定点医疗机构医保费用总额范围), Yangzhou 三(三)
(双通道, 单独支付药品). None of them fixes an amount or a ratio: every figure is the agency's
data (pharmacies.PaymentTerms).

How the month's funds are split (every fund of claims.funds together, net of the month's
reversals; the accounts are the member's money and stay paid as today):

1. Separately paid drugs (单独支付): the funds' share of the lines whose catalog item is flagged,
   attributed to a line in proportion to its policy-scope amount (the funds pay on the policy
   scope). Their own line; never against the budget, nor inside a capitation or disease payment.
2. Per disease (按病种): chronic and special-disease settlements of a disease with a standard
   are paid the standard per case (settlements − reversals of the month), instead of their funds.
3. Capitation (按人头): outpatient-pooling settlements are paid the rate × the members
   registered with the provider on the month's first day, instead of their funds.
4. What remains is paid per item, or, under a budget, up to the month's share of the budget
   (a twelfth or the schedule's), with the quality deposit withheld from what is paid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from core.money import ZERO, percent_of, to_fen

OUTPATIENT = "outpatient_pooling"
CHRONIC = "chronic_special"


@dataclass(frozen=True)
class Terms:
    """An agreement's payment terms for a year (pharmacies.PaymentTerms, as plain values)."""

    budget: bool = False
    capitation: bool = False
    per_disease: bool = False
    budget_amount: Decimal | None = None
    # Twelve monthly shares, January first; empty: a twelfth each month.
    budget_schedule: tuple[Decimal, ...] = ()
    deposit_percent: Decimal = ZERO
    overrun_provider_percent: Decimal = Decimal(100)
    underrun_retained_percent: Decimal = ZERO
    deposit_return_percent: dict[str, Decimal] = field(default_factory=dict)
    capitation_rate: Decimal | None = None
    disease_standards: dict[str, Decimal] = field(default_factory=dict)

    @property
    def methods(self) -> tuple[str, ...]:
        chosen = tuple(name for name in ("budget", "capitation", "per_disease") if getattr(self, name))
        return chosen or ("per_item",)

    def monthly_budget(self, month: int) -> Decimal:
        """The month's share of the budget (Yangzhou 三(二) 总额预算): the schedule's, else a
        twelfth, the fen that twelve twelfths lose given to December."""
        if not self.budget or self.budget_amount is None:
            return ZERO
        if self.budget_schedule:
            return to_fen(self.budget_schedule[month - 1])
        twelfth = to_fen(self.budget_amount / 12)
        return twelfth if month < 12 else to_fen(self.budget_amount - 11 * twelfth)


@dataclass(frozen=True)
class Pool:
    """One group of a provider's settlements of the month, net of its reversals."""

    cases: int  # settlements − reversals
    funds: Decimal  # every fund together
    separately_paid: Decimal = ZERO  # the funds' share of separately paid drugs within `funds`


@dataclass(frozen=True)
class MonthInputs:
    month: int  # 1..12
    # Keyed OUTPATIENT, "personal_account", or (CHRONIC, disease code).
    pools: dict
    registered_members: int = 0


@dataclass(frozen=True)
class MonthLines:
    per_item_fund: Decimal
    budget_actual: Decimal  # the funds counted against the budget
    budget_share: Decimal  # the month's share of the budget
    budget_paid: Decimal  # min(actual, share), before the deposit
    deposit_withheld: Decimal
    capitation_members: int
    capitation_amount: Decimal
    per_disease_cases: int
    per_disease_amount: Decimal
    # {disease code: [cases, amount]} for the print and the portal.
    per_disease_detail: dict
    separately_paid: Decimal

    @property
    def funds_payable(self) -> Decimal:
        """What the funds owe the provider for the month under its terms."""
        return (self.per_item_fund + self.budget_paid - self.deposit_withheld + self.capitation_amount
                + self.per_disease_amount + self.separately_paid)


def month_lines(terms: Terms, inputs: MonthInputs) -> MonthLines:
    separately_paid = sum((pool.separately_paid for pool in inputs.pools.values()), ZERO)
    remaining = ZERO
    per_disease_cases, per_disease_amount, detail = 0, ZERO, {}
    for key, pool in inputs.pools.items():
        bundled = pool.funds - pool.separately_paid
        # Ziyang 第二十二条, Jinan (十六): per disease for suitable chronic and special diseases.
        if terms.per_disease and isinstance(key, tuple) and key[0] == CHRONIC and key[1] in terms.disease_standards:
            amount = to_fen(terms.disease_standards[key[1]] * pool.cases)
            per_disease_cases += pool.cases
            per_disease_amount += amount
            detail[key[1]] = [pool.cases, f"{amount:.2f}"]
            continue
        # Zaozhuang 第十六条, Jinan (十六): capitation for ordinary outpatient services.
        if terms.capitation and key == OUTPATIENT:
            continue
        remaining += bundled
    capitation_members = inputs.registered_members if terms.capitation else 0
    capitation_amount = to_fen((terms.capitation_rate or ZERO) * capitation_members) if terms.capitation else ZERO
    if terms.budget:
        # Yangzhou 三(二): 门诊统筹基金总额预算. Paid up to the month's share (an excess waits for
        # the year-end settlement); the deposit is withheld from what is paid.
        share = terms.monthly_budget(inputs.month)
        paid = min(remaining, share)
        deposit = percent_of(paid, terms.deposit_percent) if paid > 0 else ZERO
        per_item, actual = ZERO, remaining
    else:
        share = paid = deposit = actual = ZERO
        per_item = remaining
    return MonthLines(
        per_item_fund=to_fen(per_item), budget_actual=to_fen(actual), budget_share=share, budget_paid=to_fen(paid),
        deposit_withheld=deposit, capitation_members=capitation_members, capitation_amount=capitation_amount,
        per_disease_cases=per_disease_cases, per_disease_amount=to_fen(per_disease_amount), per_disease_detail=detail,
        separately_paid=to_fen(separately_paid),
    )


# ---------------------------------------------------------------------------------------
# Year-end settlement (年度清算)


@dataclass(frozen=True)
class YearInputs:
    budget_actual: Decimal  # Σ the months' funds counted against the budget
    budget_paid: Decimal  # Σ the months' budget payments (before the deposit)
    deposit_withheld: Decimal  # Σ the months' deposits
    credit_grade: str = ""  # the provider's credit grade for the year ("" when none)
    # The agreement's assessment (考核) as a percentage: scales the grade's return ratio.
    assessment_percent: Decimal = Decimal(100)


@dataclass(frozen=True)
class YearLines:
    budget: Decimal
    budget_actual: Decimal
    overrun: Decimal
    overrun_agency: Decimal  # the agency's share of the overrun, paid
    underrun: Decimal
    underrun_retained: Decimal  # the provider's share of the underrun, paid
    recognised: Decimal  # what the budget pays for the year
    budget_paid: Decimal
    budget_balance: Decimal  # recognised − already paid (monthly, before the deposit)
    deposit_withheld: Decimal
    deposit_return_percent: Decimal
    deposit_returned: Decimal
    deposit_forfeited: Decimal

    @property
    def payable(self) -> Decimal:
        return self.budget_balance + self.deposit_returned


def year_lines(terms: Terms, inputs: YearInputs) -> YearLines:
    """Budget against actual, and the deposit's return (Yangzhou 三(二) 总额预算; Ziyang
    第二十一条(二): the fund's use is assessed and the results tied to payment)."""
    budget = to_fen(terms.budget_amount or ZERO) if terms.budget else ZERO
    actual = to_fen(inputs.budget_actual)
    overrun = max(actual - budget, ZERO)
    underrun = max(budget - actual, ZERO)
    # The provider bears overrun_provider_percent of an overrun; the agency pays the rest.
    overrun_agency = overrun - percent_of(overrun, terms.overrun_provider_percent)
    underrun_retained = percent_of(underrun, terms.underrun_retained_percent)
    recognised = min(actual, budget) + overrun_agency + underrun_retained
    balance = recognised - to_fen(inputs.budget_paid)
    grade_percent = Decimal(terms.deposit_return_percent.get(inputs.credit_grade, ZERO))
    return_percent = to_fen(grade_percent * inputs.assessment_percent / 100)
    returned = percent_of(inputs.deposit_withheld, return_percent)
    return YearLines(
        budget=budget, budget_actual=actual, overrun=overrun, overrun_agency=overrun_agency, underrun=underrun,
        underrun_retained=underrun_retained, recognised=recognised, budget_paid=to_fen(inputs.budget_paid),
        budget_balance=balance, deposit_withheld=to_fen(inputs.deposit_withheld), deposit_return_percent=return_percent,
        deposit_returned=returned, deposit_forfeited=to_fen(inputs.deposit_withheld) - returned,
    )


def terms_from_model(obj) -> Terms:
    """pharmacies.PaymentTerms → Terms (amounts as Decimals)."""
    return Terms(
        budget=obj.budget, capitation=obj.capitation, per_disease=obj.per_disease, budget_amount=obj.budget_amount,
        budget_schedule=tuple(Decimal(str(value)) for value in (obj.budget_schedule or ())),
        deposit_percent=obj.deposit_percent, overrun_provider_percent=obj.overrun_provider_percent,
        underrun_retained_percent=obj.underrun_retained_percent,
        deposit_return_percent={grade: Decimal(str(value)) for grade, value in (obj.deposit_return_percent or {}).items()},
        capitation_rate=obj.capitation_rate,
        disease_standards={code: Decimal(str(value)) for code, value in (obj.disease_standards or {}).items()},
    )
