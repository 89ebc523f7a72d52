"""The worked examples of the agency's account_credit_cases.json, through the monthly run.

Numbers are copied from the cases (a fresh clone has no shared folder). Each test names the case
and the article it rests on.
"""

from datetime import date
from decimal import Decimal

from members.models import LedgerEntry, PersonalAccount
from members.services import account_lock, account_post_entry

from .credit_helpers import credits_of, member, month, run, use_region

D = Decimal


def test_c1_zaozhuang_in_service_2_25_percent_then_2_percent(db, settings):
    """C1, Zaozhuang 第七条(一): 2.25% of the base 2022-12..2023-12, 2% from 2024-01."""
    use_region(settings, "zaozhuang")
    person = member(contribution_base="6000.00")
    for text in ("2022-12", "2023-03", "2024-03"):
        run(text)
    assert credits_of(person, "2022-12") == D("135.00")
    assert credits_of(person, "2023-03") == D("135.00")
    assert credits_of(person, "2024-03") == D("120.00")
    assert PersonalAccount.objects.get(member=person).balance == D("390.00")


def test_c2_zaozhuang_retiree_70_and_over_rate_from_the_month_of_the_70th_birthday(db, settings):
    """C2, Zaozhuang 第七条(二)1: 2% / 2.5% of the 2023 average pension; reading: 70+ from the month
    in which the member turns 70."""
    use_region(settings, "zaozhuang", average_pension_2023="3000.00")
    person = member(born=date(1954, 8, 15), employment_status="retired", retired_on=date(2014, 8, 15),
                    monthly_pension="3100.00")
    run("2024-07")
    run("2024-08")
    assert credits_of(person, "2024-07") == D("60.00")
    assert credits_of(person, "2024-08") == D("75.00")


def test_c3_zaozhuang_flexible_employment_retiree_2022_pension_then_as_unit_retirees(db, settings):
    """C3, Zaozhuang 第七条(二)2: from 2023-01 2% of the 2022 average; from 2024-01 as unit retirees."""
    use_region(settings, "zaozhuang", average_pension_2022="2900.00", average_pension_2023="3000.00")
    person = member(born=date(1960, 1, 10), employment_status="retired", category="flexible_employment",
                    retired_on=date(2020, 1, 10))
    run("2023-05")
    run("2024-05")
    assert credits_of(person, "2023-05") == D("58.00")
    assert credits_of(person, "2024-05") == D("60.00")


def test_c4_zaozhuang_flexible_employment_in_service_has_no_account(db, settings):
    """C4, Zaozhuang 第十条: from 2023-01 in-service flexible-employment members have no account."""
    use_region(settings, "zaozhuang")
    person = member(category="flexible_employment", contribution_base="5000.00")
    credit_run = run("2023-05")
    assert credits_of(person, "2023-05") is None
    assert not PersonalAccount.objects.filter(member=person).exists()
    assert credit_run.skipped == {"no_account_flexible_in_service": 1}


def test_c5_zaozhuang_civil_servant_subsidy_is_a_separate_credit(db, settings):
    """C5, Zaozhuang 第七条(一)(三): 2.25% of the base, plus 2.5% of the December 2022 base as the
    civil-servant subsidy, kept as its own entry."""
    use_region(settings, "zaozhuang")
    person = member(civil_servant=True, contribution_base="8000.00")
    credit_run = run("2023-03")
    assert credits_of(person, "2023-03") == D("180.00")
    assert credits_of(person, "2023-03", kind="civil_servant_subsidy") == D("200.00")
    assert PersonalAccount.objects.get(member=person).balance == D("380.00")
    assert (credit_run.members_credited, credit_run.total, credit_run.civil_servant_total) == (1, D("380.00"), D("200.00"))


def test_c6_ziyang_retiree_2_8_percent_of_the_2022_average_pension(db, settings):
    """C6, Ziyang 第五条(二)."""
    use_region(settings, "ziyang", average_pension_2022="2500.00")
    person = member(born=date(1955, 3, 1), employment_status="retired", retired_on=date(2015, 3, 1))
    run("2023-02")
    assert credits_of(person, "2023-02") == D("70.00")


def test_c7_ziyang_pooled_only_member_has_no_account(db, settings):
    """C7, Ziyang 第五条(三)."""
    use_region(settings, "ziyang")
    person = member(scheme="pooled_only", contribution_base="5000.00")
    credit_run = run("2023-02")
    assert credits_of(person, "2023-02") is None
    assert not PersonalAccount.objects.filter(member=person).exists()
    assert credit_run.skipped == {"pooled_only": 1}


def test_c8_henan_retirees_by_sector_and_flexible_employment_in_service(db, settings):
    """C8, Henan 二、第二章: retirees 2% of their sector's 2021 average pension; in service 2%."""
    use_region(settings, "henan", average_pension_2021_enterprise="2800.00", average_pension_2021_government="4500.00")
    enterprise = member(employment_status="retired", sector="enterprise", born=date(1955, 1, 1))
    government = member(employment_status="retired", sector="government", born=date(1955, 1, 1))
    flexible = member(category="flexible_employment", contribution_base="4000.00")
    run("2023-02")
    assert credits_of(enterprise, "2023-02") == D("56.00")
    assert credits_of(government, "2023-02") == D("90.00")
    assert credits_of(flexible, "2023-02") == D("80.00")


def test_c9_yangzhou_transition_year_from_carried_over_2022_credits_then_2_5_percent(db, settings):
    """C9, Yangzhou 二(二)2: 2023 = own 2022 credits ÷ 12 (carried over from the previous system);
    from 2024-01 2.5% of the 2023 average pension (reading: the reform year is 2023)."""
    use_region(settings, "yangzhou", average_pension_2023="3200.00")
    person = member(employment_status="retired", born=date(1955, 1, 1))
    PersonalAccount.objects.create(member=person, opened_on=date(2023, 1, 1),
                                   carried_over_credits=D("1440.00"), carried_over_as_of=date(2023, 1, 1))
    run("2023-05")
    run("2024-05")
    assert credits_of(person, "2023-05") == D("120.00")
    assert credits_of(person, "2024-05") == D("80.00")


def test_c9_yangzhou_transition_year_from_the_ledgers_2022_credits(db, settings):
    """C9, Yangzhou 二(二)2, with the 2022 credits in this system's ledger instead."""
    use_region(settings, "yangzhou", average_pension_2023="3200.00")
    person = member(employment_status="retired", born=date(1955, 1, 1))
    account = PersonalAccount.objects.create(member=person, opened_on=date(2022, 1, 1))
    account_lock(account_ids=[account.pk])
    for number in range(1, 13):
        account_post_entry(account=account, kind=LedgerEntry.Kind.MONTHLY_CREDIT, amount=D("120.00"),
                           period=date(2022, number, 1))
    run("2023-05")
    assert credits_of(person, "2023-05") == D("120.00")


def test_c10_jinan_retirees_under_70_and_70_plus_from_2024(db, settings):
    """C10, Jinan (十四): 2% / 2.5% of the 2023 average pension from 2024-01."""
    use_region(settings, "jinan", average_pension_2023="3500.00")
    younger = member(employment_status="retired", born=date(1958, 1, 1))
    older = member(employment_status="retired", born=date(1950, 1, 1))
    run("2024-03")
    assert credits_of(younger, "2024-03") == D("70.00")
    assert credits_of(older, "2024-03") == D("87.50")


def _retiring_on_2024_06_15():
    return member(born=date(1964, 6, 1), spells=[
        {"contribution_base": "6000.00"},
        {"effective_from": date(2024, 6, 15), "employment_status": "retired", "retired_on": date(2024, 6, 15),
         "monthly_pension": "3300.00"},
    ])


def test_c11_zaozhuang_retiree_rate_from_the_month_of_retirement(db, settings):
    """C11, Zaozhuang 第七条(二)3: retiree rate from the month retiree benefits start (当月)."""
    use_region(settings, "zaozhuang", average_pension_2023="3000.00")
    person = _retiring_on_2024_06_15()
    run("2024-05")
    run("2024-06")
    assert credits_of(person, "2024-05") == D("120.00")
    assert credits_of(person, "2024-06") == D("60.00")


def test_c12_jinan_retiree_rate_from_the_month_after_retirement(db, settings):
    """C12, Jinan (十四): retiree rate from the month after retirement (次月)."""
    use_region(settings, "jinan", average_pension_2023="3500.00")
    person = _retiring_on_2024_06_15()
    run("2024-06")
    run("2024-07")
    assert credits_of(person, "2024-06") == D("120.00")
    assert credits_of(person, "2024-07") == D("70.00")


def test_c13_running_the_same_month_twice_credits_once(db, settings):
    """C13, Zaozhuang 第七条, 第九条."""
    use_region(settings, "zaozhuang")
    person = member(contribution_base="6000.00")
    first = run("2024-03")
    second = run("2024-03")
    assert LedgerEntry.objects.filter(account__member=person, period=month("2024-03")).count() == 1
    assert credits_of(person, "2024-03") == D("120.00")
    assert PersonalAccount.objects.get(member=person).balance == D("120.00")
    assert (first.members_credited, second.members_credited) == (1, 0)
    assert second.skipped == {"already_credited": 1}
