"""The pure calculator, rule by rule, each test citing its article. No database."""

import copy
from datetime import date
from decimal import Decimal as D

import pytest

from claims import calculator as calc
from claims.policy_format import validate_document, validate_parameters

from .conftest import preset

A = calc.CatalogFacts("A-DRUG", "A")
B = calc.CatalogFacts("B-DRUG", "B", prepay_percent=D("10"))
C = calc.CatalogFacts("C-DRUG", "C")
SVC = calc.CatalogFacts("A-SVC", "A", payment_standard=D("20.00"))


def policy(region, version=0, reference=None, **changes):
    parameters = copy.deepcopy(preset(region)["versions"][version]["parameters"])
    for path, value in changes.items():
        node = parameters
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return calc.PolicyInput(region, parameters, reference or {})


def visit(amount_a=0, day=date(2023, 3, 1), level="level_1", **kwargs):
    lines = kwargs.pop("lines", None) or (calc.LineInput(A, D(amount_a) / 10, D("10.00")),)
    return calc.VisitInput(visit_date=day, lines=lines, provider_level=level, **kwargs)


IN_SERVICE = calc.MemberSituation("in_service", "combined")
RETIRED = calc.MemberSituation("retired", "combined")
NEW_YEAR = calc.YearSoFar()


def test_every_shipped_preset_is_valid_and_carries_every_parameter():
    for region in ("zaozhuang", "ziyang", "henan", "yangzhou", "jinan"):
        assert validate_document(preset(region)) == [], region


def test_format_refuses_a_missing_key_and_a_ratio_above_100():
    parameters = copy.deepcopy(preset("zaozhuang")["versions"][0]["parameters"])
    del parameters["annual_cap"]
    parameters["ratio"]["base"]["level_1"] = 170
    problems = dict(validate_parameters(parameters))
    assert "annual_cap" in problems and "ratio.base.level_1" in problems


def test_yangzhou_deductible_percent_above_the_documents_1_percent_is_refused():
    """Yangzhou 二(一)2(1): the deductible is not above 1% of the 2021 average wage."""
    parameters = copy.deepcopy(preset("yangzhou")["versions"][0]["parameters"])
    parameters["deductible"]["amount"]["percent_of_average_wage"] = 2
    assert "deductible.amount.percent_of_average_wage" in dict(validate_parameters(parameters))


# --- lines -------------------------------------------------------------------------------


def test_class_c_is_fully_self_paid_and_class_b_prepays_its_share():
    """rules.md §2: class C and the class-B first share are outside policy scope."""
    lines = calc.price_lines((calc.LineInput(B, D(4), D("50.00")), calc.LineInput(C, D(1), D("30.00"))))
    assert (lines[0].class_b_prepay, lines[0].policy_scope) == (D("20.00"), D("180.00"))
    assert (lines[1].fully_self_paid, lines[1].policy_scope) == (D("30.00"), D("0.00"))


def test_price_above_the_payment_standard_is_over_limit():
    """Zaozhuang 第五条, 第十一条: above the payment standard is 超限价自费."""
    (line,) = calc.price_lines((calc.LineInput(SVC, D(2), D("25.00")),))
    assert (line.amount, line.over_limit, line.policy_scope) == (D("50.00"), D("10.00"), D("40.00"))


def test_line_amount_rounds_half_up_to_the_fen():
    (line,) = calc.price_lines((calc.LineInput(A, D("0.333"), D("10.05")),))
    assert line.amount == D("3.35")  # 3.34665 → 3.35 (R1)


# --- deductibles -----------------------------------------------------------------------


def test_zaozhuang_top_up_deductible_counts_what_was_paid_at_a_lower_level():
    """Zaozhuang 第五条(一) 累计补差: 200 paid at level 1 leaves 600 at level 3."""
    result = calc.settle(visit(1000, level="level_3"), IN_SERVICE, calc.YearSoFar(deductible_met=D("200.00")), policy("zaozhuang"))
    assert (result.deductible, result.fund) == (D("600.00"), D("200.00"))


def test_zaozhuang_village_clinic_is_level_1_and_below():
    """Zaozhuang 第五条(一): level 1 and below includes village clinics."""
    result = calc.settle(visit(300, level="village_clinic"), IN_SERVICE, NEW_YEAR, policy("zaozhuang"))
    assert (result.deductible, result.ratio, result.fund) == (D("200.00"), D("70"), D("70.00"))


def test_ziyang_annual_deductible_by_employment_status():
    """Ziyang 第八条(一): 200 in service, 150 retired."""
    assert calc.settle(visit(1000, level="level_2"), IN_SERVICE, NEW_YEAR, policy("ziyang")).deductible == D("200.00")
    assert calc.settle(visit(1000, level="level_2"), RETIRED, NEW_YEAR, policy("ziyang")).deductible == D("150.00")


def test_henan_deductible_is_per_visit_whatever_was_paid_before():
    """Henan 第三章: 40 per visit."""
    result = calc.settle(visit(100, level="level_2"), IN_SERVICE, calc.YearSoFar(deductible_met=D("400.00")), policy("henan"))
    assert result.deductible == D("40.00")


def test_henan_township_centre_has_no_deductible():
    """Henan 第三章: no deductible at township health centres."""
    result = calc.settle(visit(100, level="township_health_centre"), IN_SERVICE, NEW_YEAR, policy("henan"))
    assert (result.deductible, result.ratio, result.fund) == (D("0.00"), D("70"), D("70.00"))


def test_jinan_deductible_ships_empty_and_refuses_naming_it():
    """Jinan (四): the deductible is not stated in the document (**param**)."""
    with pytest.raises(calc.PolicyParameterMissing) as refused:
        calc.settle(visit(100, day=date(2024, 3, 1)), IN_SERVICE, NEW_YEAR, policy("jinan", 1))
    assert refused.value.parameter == "deductible.amount"


def test_yangzhou_ratio_table_ships_empty_and_refuses_naming_the_level():
    """Yangzhou 二(一)2(2): the ratio table by level is a parameter."""
    reference = {("average_wage", 2021): D("90000.00")}
    with pytest.raises(calc.PolicyParameterMissing) as refused:
        calc.settle(visit(2000, level="level_2"), IN_SERVICE, NEW_YEAR, policy("yangzhou", reference=reference))
    assert refused.value.parameter == "ratio.base.level_2"


def test_yangzhou_deductible_and_cap_come_from_the_2021_average_wage():
    """Yangzhou 二(一)2(1)(3): 1% and 8% of the 2021 average wage."""
    reference = {("average_wage", 2021): D("87654.32")}
    p = policy("yangzhou", reference=reference, ratio__base={"level_1": 70, "level_2": 65, "level_3": 60})
    result = calc.settle(visit(20000, level="level_1"), IN_SERVICE, NEW_YEAR, p)
    assert result.deductible == D("876.54")  # 876.5432 → 876.54 (R5)
    assert result.year.cap == D("7012.35")  # 7012.3456 → 7012.35 (R5)
    assert result.fund == D("7012.35")


def test_yangzhou_without_the_reference_wage_refuses_naming_it():
    with pytest.raises(calc.PolicyParameterMissing) as refused:
        calc.settle(visit(100), IN_SERVICE, NEW_YEAR, policy("yangzhou", ratio__base={"level_1": 70}))
    assert refused.value.parameter == "average_wage.2021"


# --- ratios ----------------------------------------------------------------------------


def test_zaozhuang_retiree_ratio_is_five_points_higher():
    """Zaozhuang 第五条(二): 75/65/55 for retirees."""
    result = calc.settle(visit(1000, level="level_3"), RETIRED, NEW_YEAR, policy("zaozhuang"))
    assert (result.ratio, result.fund) == (D("55"), D("110.00"))


def test_ziyang_pharmacy_takes_the_pharmacy_ratio():
    """Ziyang 第八条(一), 第十四条: pharmacies at 50%, retirees +10."""
    v = visit(500, provider_kind="pharmacy", level="")
    assert calc.settle(v, IN_SERVICE, calc.YearSoFar(deductible_met=D("200.00")), policy("ziyang")).ratio == D("50")
    assert calc.settle(v, RETIRED, calc.YearSoFar(deductible_met=D("150.00")), policy("ziyang")).ratio == D("60")


def test_jinan_ratio_change_on_2024_for_retirees_and_veterans():
    """Jinan (二): retirees +5 and veterans +5 over retirees from 2024; veterans +5 in 2023."""
    p2023, p2024 = policy("jinan", 0, deductible__amount="0.00"), policy("jinan", 1, deductible__amount="0.00")
    veteran = calc.MemberSituation("retired", "combined", pre_1949_veteran=True)
    # The 2023 visits are at the member's chosen institution (Jinan (四): 2023 pays only there).
    chosen = {"at_chosen_institution": True}
    assert calc.settle(visit(100, level="level_2", **chosen), RETIRED, NEW_YEAR, p2023).ratio == D("70")
    assert calc.settle(visit(100, level="level_2"), RETIRED, NEW_YEAR, p2024).ratio == D("75")
    assert calc.settle(visit(100, level="level_3", **chosen), veteran, NEW_YEAR, p2023).ratio == D("55")
    assert calc.settle(visit(100, level="level_3"), veteran, NEW_YEAR, p2024).ratio == D("60")


def test_fund_amount_rounds_half_up_once():
    """R7: (base − deductible) × ratio rounded half up: 0.05 × 70% = 0.035 → 0.04."""
    v = visit(lines=(calc.LineInput(A, D(1), D("200.05")),))
    assert calc.settle(v, IN_SERVICE, NEW_YEAR, policy("zaozhuang")).fund == D("0.04")


# --- caps ------------------------------------------------------------------------------


def test_zaozhuang_fund_stops_at_the_annual_cap():
    """Zaozhuang 第五条(三): 1500 a year."""
    result = calc.settle(visit(1000), IN_SERVICE, calc.YearSoFar(deductible_met=D("800.00"), fund_paid=D("1400.00")), policy("zaozhuang"))
    assert (result.fund, result.year.cap_remaining) == (D("100.00"), D("0.00"))


def test_ziyang_pooled_only_cap_and_no_account():
    """Ziyang 第五条(三), 第八条(一): pooled-only 800/1000 and no personal account."""
    pooled = calc.MemberSituation("retired", "pooled_only")
    result = calc.settle(visit(5000, level="level_2", use_account=True), pooled, NEW_YEAR, policy("ziyang"), account_balance=D("999.00"))
    assert (result.fund, result.account, result.cash) == (D("1000.00"), D("0.00"), D("4000.00"))


def test_henan_first_year_cap_is_halved_and_next_year_is_whole():
    """Henan 第三章 实施当年最高支付限额减半 (reading: 2022)."""
    p = policy("henan")
    assert calc.annual_cap(p, RETIRED, 2022) == D("1000.00")
    assert calc.annual_cap(p, RETIRED, 2023) == D("2000.00")


def test_ziyang_counts_toward_the_fund_maximum_and_henan_does_not():
    """Ziyang 第十一条 yes; Henan 第三章 no."""
    assert calc.settle(visit(300, level="level_2"), IN_SERVICE, NEW_YEAR, policy("ziyang")).counts_toward_annual_fund_maximum is True
    assert calc.settle(visit(300, level="level_2"), IN_SERVICE, NEW_YEAR, policy("henan")).counts_toward_annual_fund_maximum is False


# --- out of area, pharmacies, internet hospitals -----------------------------------------


def test_zaozhuang_temporary_visit_prepays_ten_percent_first():
    """Zaozhuang 第六条: the member first pays 10% of the policy-scope amount."""
    result = calc.settle(visit(1000, level="level_3", visit_place="out_of_province"), IN_SERVICE, NEW_YEAR, policy("zaozhuang"))
    assert (result.temporary_visit_prepay, result.deductible, result.fund) == (D("100.00"), D("800.00"), D("50.00"))


def test_registered_long_term_resident_is_settled_as_local():
    """Zaozhuang 第六条, Jinan (五): registered residents elsewhere are local."""
    member = calc.MemberSituation("in_service", "combined", registered_places=("in_province",))
    result = calc.settle(visit(1000, visit_place="in_province"), member, NEW_YEAR, policy("zaozhuang"))
    assert (result.temporary_visit, result.temporary_visit_prepay) == (False, D("0.00"))


def test_registration_for_another_place_does_not_make_a_visit_local():
    member = calc.MemberSituation("in_service", "combined", registered_places=("in_province",))
    result = calc.settle(visit(1000, visit_place="out_of_province"), member, NEW_YEAR, policy("zaozhuang"))
    assert result.temporary_visit_prepay == D("100.00")


def test_jinan_out_of_province_temporary_visit_is_ten_points_lower():
    """Jinan (五): −10 points out of province, unchanged in province."""
    p = policy("jinan", 1, deductible__amount="0.00")
    assert calc.settle(visit(100, level="level_2", visit_place="out_of_province"), IN_SERVICE, NEW_YEAR, p).ratio == D("60")
    assert calc.settle(visit(100, level="level_2", visit_place="in_province"), IN_SERVICE, NEW_YEAR, p).ratio == D("70")


def test_yangzhou_pharmacy_without_a_prescription_is_refused():
    """Yangzhou 二(一)4: the ratio is the prescribing institution's, so one must be named."""
    reference = {("average_wage", 2021): D("90000.00")}
    p = policy("yangzhou", reference=reference, ratio__base={"level_1": 70, "level_2": 65, "level_3": 60})
    with pytest.raises(calc.PrescriptionRequired):
        calc.settle(visit(100, provider_kind="pharmacy", level=""), IN_SERVICE, NEW_YEAR, p)
    result = calc.settle(visit(2000, provider_kind="pharmacy", level="", prescriber_level="level_3"), IN_SERVICE, NEW_YEAR, p)
    assert result.ratio == D("60")


def test_henan_pharmacy_and_village_clinic_are_not_covered():
    """Henan 第三章: institutions with inpatient beds, township and community centres only."""
    pharmacy = calc.settle(visit(100, provider_kind="pharmacy", level=""), IN_SERVICE, NEW_YEAR, policy("henan"))
    village = calc.settle(visit(100, level="village_clinic"), IN_SERVICE, NEW_YEAR, policy("henan"))
    assert (pharmacy.denied_reason, pharmacy.fund) == ("provider_not_covered", D("0.00"))
    assert village.denied_reason == "provider_not_covered"


# --- denial ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["inpatient_stay", "ltc_medical_care"])
def test_no_outpatient_pooling_during_inpatient_stay_or_ltc_medical_care(kind):
    """Zaozhuang 第十一条."""
    member = calc.MemberSituation("in_service", "combined", episode_kinds=(kind,))
    result = calc.settle(visit(300), member, NEW_YEAR, policy("zaozhuang"))
    assert (result.denied_reason, result.fund, result.deductible, result.year.deductible_met) == (kind, D("0.00"), D("0.00"), D("0.00"))


def test_deceased_member_gets_nothing_and_the_account_does_not_pay():
    member = calc.MemberSituation("in_service", "combined", active=False, deceased=True)
    result = calc.settle(visit(300, use_account=True), member, NEW_YEAR, policy("zaozhuang"), account_balance=D("500.00"))
    assert (result.denied_reason, result.fund, result.account, result.cash) == ("member_deceased", D("0.00"), D("0.00"), D("300.00"))


def test_inactive_member_is_denied():
    member = calc.MemberSituation("in_service", "combined", active=False)
    assert calc.settle(visit(300), member, NEW_YEAR, policy("zaozhuang")).denied_reason == "member_inactive"


# --- account ---------------------------------------------------------------------------


def test_account_pays_the_burden_up_to_its_balance_and_cash_the_rest():
    """rules.md §3.2 reading: the account pays the whole personal burden up to its balance."""
    result = calc.settle(visit(1000, use_account=True), IN_SERVICE, NEW_YEAR, policy("zaozhuang"), account_balance=D("500.00"))
    assert (result.fund, result.personal_burden, result.account, result.cash, result.balance_after) == (
        D("560.00"), D("440.00"), D("440.00"), D("0.00"), D("60.00"))


def test_family_payer_pays_into_family_account():
    """家庭共济 (Zaozhuang 第八条): a relative's account pays the member's burden."""
    result = calc.settle(visit(300, family_payer=True), IN_SERVICE, NEW_YEAR, policy("zaozhuang"), account_balance=D("100.00"))
    assert (result.account, result.family_account, result.cash) == (D("0.00"), D("100.00"), D("130.00"))


# --- Jinan large-amount subsidy ---------------------------------------------------------


def test_jinan_large_amount_subsidy_pays_the_burden_above_the_threshold():
    """Jinan (七): compliant burden above 6000 (2024) is paid again at the subsidy ratio."""
    p = policy("jinan", 1, deductible__amount="500.00", large_expense_subsidy__ratio_percent=80)
    year = calc.YearSoFar(deductible_met=D("500.00"), fund_paid=D("6000.00"), large_expense_burden=D("5900.00"))
    lines = (calc.LineInput(A, D(20), D("10.00")), calc.LineInput(B, D(2), D("50.00")))  # 200 A + 100 B (10 prepay)
    result = calc.settle(visit(lines=lines, day=date(2024, 6, 1)), IN_SERVICE, year, p)
    # fund 0 (cap used): compliant burden = 290 policy scope + 10 prepay = 300 → 6200, 200 above 6000.
    assert (result.fund, result.large_expense_subsidy, result.personal_burden) == (D("0.00"), D("160.00"), D("140.00"))
    assert result.year.large_expense_burden == D("6200.00")


def test_jinan_subsidy_ratio_ships_empty_and_holds_the_second_payment_pending():
    """Jinan (七): the payment ratio is a parameter; while it is open the fund's share still
    settles and the burden above the threshold is held pending (issue 18)."""
    p = policy("jinan", 1, deductible__amount="500.00")
    below = calc.settle(visit(100, day=date(2024, 6, 1)), IN_SERVICE, NEW_YEAR, p)
    assert below.large_expense_subsidy == D("0.00") and below.large_expense_pending_base == D("0.00")
    above = calc.settle(visit(100, day=date(2024, 6, 1)), IN_SERVICE, calc.YearSoFar(large_expense_burden=D("5990.00"), deductible_met=D("500.00")), p)
    # fund 70 at 70%; compliant burden 30 → 6020, 20 above 6000 held pending, nothing paid.
    assert (above.fund, above.large_expense_subsidy, above.large_expense_pending_base) == (D("70.00"), D("0.00"), D("20.00"))
    assert above.personal_burden == D("30.00") and above.year.large_expense_burden == D("6020.00")


def test_class_c_and_over_limit_are_not_compliant_burden_for_the_subsidy():
    """Jinan (七): amounts above payment standards (and outside the catalog) are not compliant."""
    p = policy("jinan", 1, deductible__amount="0.00", large_expense_subsidy__ratio_percent=80)
    lines = (calc.LineInput(C, D(10), D("30.00")), calc.LineInput(SVC, D(1), D("120.00")))
    result = calc.settle(visit(lines=lines, day=date(2024, 6, 1)), IN_SERVICE, NEW_YEAR, p)
    # policy scope 20 (standard), fund 14 at 70%: compliant burden 6 only.
    assert result.year.large_expense_burden == D("6.00")
