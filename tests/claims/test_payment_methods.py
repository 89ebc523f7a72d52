"""The payment-method calculator (claims/statements/payment_methods.py), pure: Zaozhuang 第十六条,
Ziyang 第二十二条, Yangzhou 三(二) (总额预算, 按人头, 按病种, 按项目), Jinan (十六) and Yangzhou 三(三)
(单独支付 negotiated drugs never count against the budget), Ziyang 第二十一条(二) (assessment
results tied to payment: the deposit's return by credit grade). Every amount is agency data."""

from decimal import Decimal

from claims.statements.payment_methods import (
    CHRONIC,
    OUTPATIENT,
    MonthInputs,
    Pool,
    Terms,
    YearInputs,
    month_lines,
    year_lines,
)

D = Decimal
PER_ITEM = Terms()
BUDGET = Terms(budget=True, budget_amount=D("120000.00"), deposit_percent=D("10"),
               overrun_provider_percent=D("50"), underrun_retained_percent=D("40"),
               deposit_return_percent={"A": D("100"), "B": D("80"), "C": D("50")})


def pools(outpatient="0.00", sp="0.00", **diseases):
    found = {OUTPATIENT: Pool(cases=10, funds=D(outpatient), separately_paid=D(sp))}
    for code, (cases, funds) in diseases.items():
        found[(CHRONIC, code)] = Pool(cases=cases, funds=D(funds))
    return found


def test_without_terms_everything_is_paid_per_item_as_today():
    lines = month_lines(PER_ITEM, MonthInputs(month=3, pools=pools("1000.00", sp="200.00", I10=(4, "300.00"))))
    assert PER_ITEM.methods == ("per_item",)
    # The separately paid share is its own line; together the same as per item.
    assert (lines.per_item_fund, lines.separately_paid, lines.budget_paid) == (D("1100.00"), D("200.00"), 0)
    assert lines.funds_payable == D("1300.00")


def test_budget_pays_up_to_the_months_share_and_withholds_the_deposit_yangzhou_3_2():
    """Under the month's share: all of it, less 10% deposit; over it: the share (the excess waits
    for the year-end settlement)."""
    under = month_lines(BUDGET, MonthInputs(month=1, pools=pools("8000.00")))
    assert (under.budget_share, under.budget_actual, under.budget_paid, under.deposit_withheld) == (
        D("10000.00"), D("8000.00"), D("8000.00"), D("800.00"))
    assert under.funds_payable == D("7200.00") and under.per_item_fund == 0
    over = month_lines(BUDGET, MonthInputs(month=2, pools=pools("13000.00")))
    assert (over.budget_paid, over.deposit_withheld, over.funds_payable) == (D("10000.00"), D("1000.00"), D("9000.00"))


def test_a_twelfth_each_month_and_december_takes_the_lost_fen():
    terms = Terms(budget=True, budget_amount=D("1000.00"))
    shares = [terms.monthly_budget(month) for month in range(1, 13)]
    assert shares[:11] == [D("83.33")] * 11 and shares[11] == D("83.37") and sum(shares) == D("1000.00")
    scheduled = Terms(budget=True, budget_amount=D("1200.00"), budget_schedule=(D("200"),) + (D("100"),) * 10 + (D("0"),))
    assert scheduled.monthly_budget(1) == D("200.00") and scheduled.monthly_budget(12) == 0


def test_separately_paid_drugs_are_their_own_line_and_never_count_against_the_budget_jinan_16():
    """Jinan (十六): 对实行单独支付的国家医保谈判药品，不纳入定点医疗机构医保费用总额范围."""
    lines = month_lines(BUDGET, MonthInputs(month=1, pools=pools("12000.00", sp="3000.00")))
    assert lines.separately_paid == D("3000.00")
    assert lines.budget_actual == D("9000.00")  # 12,000 − 3,000 of the negotiated drug
    assert (lines.budget_paid, lines.deposit_withheld) == (D("9000.00"), D("900.00"))
    assert lines.funds_payable == D("11100.00")  # 9,000 − 900 + 3,000, no deposit on the drug


def test_capitation_pays_the_rate_per_registered_member_instead_of_outpatient_funds_ziyang_22():
    """Ziyang 第二十二条: 对基层医疗服务可按人头付费."""
    terms = Terms(capitation=True, capitation_rate=D("12.50"))
    lines = month_lines(terms, MonthInputs(month=5, pools=pools("999.00", sp="50.00", M01=(2, "80.00")), registered_members=37))
    assert (lines.capitation_members, lines.capitation_amount) == (37, D("462.50"))
    # The chronic settlements (no per-disease term) stay per item; the drug is its own line.
    assert (lines.per_item_fund, lines.separately_paid) == (D("80.00"), D("50.00"))
    assert lines.funds_payable == D("592.50")


def test_per_disease_pays_the_standard_per_case_net_of_reversals_zaozhuang_16():
    """Zaozhuang 第十六条: 对普通门诊和门诊慢特病服务，可实行按人头付费、按病种付费等复合式付费方式."""
    terms = Terms(per_disease=True, disease_standards={"I10": D("150.00"), "E11": D("210.55")})
    lines = month_lines(terms, MonthInputs(month=5, pools=pools("500.00", I10=(3, "999.00"), E11=(-1, "-40.00"), N18=(2, "70.00"))))
    assert lines.per_disease_cases == 2
    assert lines.per_disease_amount == D("239.45")  # 3 × 150.00 − 1 × 210.55 (a reversal of an earlier case)
    assert lines.per_disease_detail == {"I10": [3, "450.00"], "E11": [-1, "-210.55"]}
    assert lines.per_item_fund == D("570.00")  # outpatient 500 + N18 (no standard) 70


def test_reversals_beyond_the_months_settlements_lower_the_budget_payment_and_withhold_nothing():
    lines = month_lines(BUDGET, MonthInputs(month=4, pools=pools("-300.00")))
    assert (lines.budget_paid, lines.deposit_withheld, lines.funds_payable) == (D("-300.00"), 0, D("-300.00"))


def test_year_end_overrun_shared_and_deposit_returned_by_grade_ziyang_21_2():
    """An overrun of 20,000: the provider bears 50%, the agency pays 10,000 more. Grade B returns
    80% of the deposit (Ziyang 第二十一条(二): assessment results tied to payment)."""
    lines = year_lines(BUDGET, YearInputs(budget_actual=D("140000.00"), budget_paid=D("118000.00"),
                                          deposit_withheld=D("11800.00"), credit_grade="B"))
    assert (lines.overrun, lines.overrun_agency, lines.underrun) == (D("20000.00"), D("10000.00"), 0)
    assert lines.recognised == D("130000.00")
    assert lines.budget_balance == D("12000.00")
    assert (lines.deposit_return_percent, lines.deposit_returned, lines.deposit_forfeited) == (D("80.00"), D("9440.00"), D("2360.00"))
    assert lines.payable == D("21440.00")


def test_year_end_underrun_partly_kept_and_no_deposit_back_for_an_unlisted_grade():
    lines = year_lines(BUDGET, YearInputs(budget_actual=D("100000.00"), budget_paid=D("100000.00"),
                                          deposit_withheld=D("10000.00"), credit_grade="D"))
    assert (lines.underrun, lines.underrun_retained, lines.recognised) == (D("20000.00"), D("8000.00"), D("108000.00"))
    assert (lines.budget_balance, lines.deposit_returned, lines.deposit_forfeited) == (D("8000.00"), 0, D("10000.00"))
    # The agreement's assessment scales the grade's ratio.
    assessed = year_lines(BUDGET, YearInputs(budget_actual=D("100000.00"), budget_paid=D("100000.00"),
                                             deposit_withheld=D("10000.00"), credit_grade="A",
                                             assessment_percent=D("90")))
    assert (assessed.deposit_return_percent, assessed.deposit_returned) == (D("90.00"), D("9000.00"))
