"""Zaozhuang 第七条(二)2 and 第七条(三), second pass (issue 18): through the monthly run (SQL) and
the pure plan, which must agree."""

from datetime import date
from decimal import Decimal

from members import account_credits as c
from members.account_credit_sql import member_facts
from members.models import PersonalAccount

from .credit_helpers import credits_of, member, month, run, use_region

D = Decimal


def test_civil_servant_probation_base_until_regularization_then_that_months_wage_article_7_3(db, settings):
    """Zaozhuang 第七条(三): 新录用人员，转正定级前按其首月见习工资、转正定级后按其转正定级首月工资的
    2.5%定额划入 — not the first base forever."""
    use_region(settings, "zaozhuang")
    person = member(spells=[
        {"effective_from": date(2023, 4, 1), "contribution_base": "4000.00", "civil_servant": True},  # probation
        {"effective_from": date(2023, 6, 1), "contribution_base": "4200.00", "civil_servant": True},  # a raise
        {"effective_from": date(2024, 4, 1), "contribution_base": "6000.00", "civil_servant": True,
         "civil_servant_regularized": True},  # 转正定级: the first month's wage
        {"effective_from": date(2024, 9, 1), "contribution_base": "6500.00", "civil_servant": True},
    ])
    for text in ("2023-05", "2023-07", "2024-03", "2024-04", "2024-10"):
        run(text)
    kind = "civil_servant_subsidy"
    assert credits_of(person, "2023-05", kind=kind) == D("100.00")  # 2.5% of the probation 4000
    assert credits_of(person, "2023-07", kind=kind) == D("100.00")  # still the first month's probation wage
    assert credits_of(person, "2024-03", kind=kind) == D("100.00")
    assert credits_of(person, "2024-04", kind=kind) == D("150.00")  # 2.5% of 6000 from 转正定级
    assert credits_of(person, "2024-10", kind=kind) == D("150.00")  # fixed: not the later wage


def test_the_pure_plan_agrees_with_the_run_for_regularization_article_7_3(db, settings):
    use_region(settings, "zaozhuang")
    person = member(spells=[
        {"effective_from": date(2023, 4, 1), "contribution_base": "4000.00", "civil_servant": True},
        {"effective_from": date(2024, 4, 1), "contribution_base": "6000.00", "civil_servant": True,
         "civil_servant_regularized": True},
    ])
    from members.services.credit_runs import credit_plan_for

    for text in ("2024-03", "2024-04"):
        run(text)
        _policy, plan, _missing = credit_plan_for(region="zaozhuang", month=month(text))
        result = c.member_credits(plan, member_facts(person))
        assert result.credits.get("civil_servant_subsidy") == credits_of(person, text, kind="civil_servant_subsidy")


def test_other_retirees_without_an_account_are_credited_like_flexible_ones_article_7_2_2(db, settings):
    """Zaozhuang 第七条(二)2: 符合享受医保退休待遇的灵活就业退休人员（含其他享受医保退休待遇未建立医保
    个人账户的退休人员）: from 2023-01 2% (2.5% at 70+) of the 2022 average pension; from 2024-01 as
    unit retirees."""
    use_region(settings, "zaozhuang", average_pension_2022="2900.00", average_pension_2023="3000.00")
    young = member(born=date(1960, 1, 10), employment_status="retired", category="retiree_without_account",
                   retired_on=date(2020, 1, 10))
    old = member(born=date(1950, 1, 10), employment_status="retired", category="retiree_without_account",
                 retired_on=date(2010, 1, 10))
    december = run("2022-12")
    assert credits_of(young, "2022-12") is None and not PersonalAccount.objects.filter(member=young).exists()
    assert december.skipped == {"no_account_before_2023": 2}
    run("2023-05")
    run("2024-05")
    assert (credits_of(young, "2023-05"), credits_of(old, "2023-05")) == (D("58.00"), D("72.50"))
    assert (credits_of(young, "2024-05"), credits_of(old, "2024-05")) == (D("60.00"), D("75.00"))
