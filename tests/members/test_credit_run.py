"""The set-based monthly run: agrees with the pure calculator, credits once, stops on missing data."""

import itertools
from datetime import date
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection

from core.errors import DomainError
from members import account_credit_sql, account_credits
from members.models import CreditRun, LedgerEntry, PersonalAccount, ReferenceValue
from members.services import (
    MissingReferenceData,
    credit_month_start,
    credit_plan_for,
    credit_run_chunk,
    credit_run_chunk_bounds,
)

from .credit_helpers import member, month, run, use_region

D = Decimal

REFERENCES = {
    "average_pension_2021": "2900.00", "average_pension_2021_enterprise": "2800.00",
    "average_pension_2021_government": "4500.00", "average_pension_2022": "2900.00",
    "average_pension_2023": "3000.00",
}


def _variety():
    """Members across every branch: status, scheme, category, sector, civil servant, age band,
    retirement in the month, odd bases that round at the half fen, no base, inactive."""
    bases = ["6000.00", "4446.00", "3333.33", "4445.78", None]
    people = []
    combos = itertools.product(
        ["in_service", "retired"], ["combined", "pooled_only"], ["employee", "flexible_employment"],
        ["enterprise", "government"], [False, True],
    )
    for index, (status, scheme, category, sector, civil) in enumerate(combos):
        born = date(1954, 1 + index % 12, 1 + index % 28) if index % 3 else date(1975, 3, 3)
        base = bases[index % len(bases)]
        people.append(member(
            born=born, employment_status=status, scheme=scheme, category=category, sector=sector,
            civil_servant=civil, contribution_base=base if status == "in_service" else None,
            monthly_pension="3210.55" if status == "retired" else None,
            retired_on=date(2014, 1, 1) if status == "retired" else None,
        ))
    # Retiring in the middle of March 2024, and a civil servant hired after the anchor month.
    people.append(member(born=date(1964, 3, 9), spells=[
        {"contribution_base": "7777.77", "civil_servant": True},
        {"effective_from": date(2024, 3, 9), "employment_status": "retired", "retired_on": date(2024, 3, 9),
         "monthly_pension": "4001.01", "civil_servant": True},
    ]))
    people.append(member(spells=[{"effective_from": date(2023, 4, 1), "contribution_base": "5001.10",
                                  "civil_servant": True}]))
    people.append(member(spells=[{"effective_from": date(2030, 1, 1), "contribution_base": "5000.00"}]))
    # Zaozhuang 第七条(三): probation until 转正定级, then that month's wage; 第七条(二)2: another
    # retiree without an account.
    people.append(member(spells=[
        {"effective_from": date(2023, 2, 1), "contribution_base": "4001.10", "civil_servant": True},
        {"effective_from": date(2024, 2, 1), "contribution_base": "6003.30", "civil_servant": True,
         "civil_servant_regularized": True},
    ]))
    people.append(member(born=date(1952, 6, 6), employment_status="retired", category="retiree_without_account",
                         retired_on=date(2012, 6, 6), monthly_pension="2999.99"))
    suspended = member(contribution_base="6000.00")
    suspended.status = "suspended"
    suspended.save()
    people.append(suspended)
    return people


@pytest.mark.parametrize("region, months", [
    ("zaozhuang", ["2022-12", "2023-05", "2024-03"]),
    ("ziyang", ["2023-02", "2024-03"]),
    ("henan", ["2022-07", "2024-03"]),
    ("yangzhou", ["2023-05", "2024-03"]),
    ("jinan", ["2024-02", "2024-03"]),
])
def test_the_set_based_run_agrees_with_the_pure_calculator(db, settings, region, months):
    """§3.1 for every region: the SQL run and `account_credits.member_credits` give the same amounts, to the
    fen, and the same skip reasons, member by member."""
    use_region(settings, region, **REFERENCES)
    if region == "zaozhuang":  # the document leaves the pre-2024 retiree rule open (param)
        from members.models import CreditRule

        CreditRule.objects.filter(basis="monthly_pension", percent__isnull=True).update(percent=D("3.33"))
    people = _variety()
    for text in months:
        _, plan, _ = credit_plan_for(region=region, month=month(text))
        builder = account_credit_sql.PlanSQL(plan)
        query = builder.query()
        with connection.cursor() as cursor:
            cursor.execute(query.sql, query.params)
            names = [column[0] for column in cursor.description]
            rows = {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}
        credit_run = run(text)
        assert credit_run.status == CreditRun.Status.COMPLETED
        for person in people:
            expected = account_credits.member_credits(plan, account_credit_sql.member_facts(person))
            row = rows[person.pk]
            for kind in account_credits.CREDIT_KINDS:
                fen = row.get(f"fen_{kind}")
                sql_amount = D(fen) / 100 if fen and fen > 0 else None
                assert sql_amount == expected.credits.get(kind), (text, person.pk, kind)
                entry = LedgerEntry.objects.filter(account__member=person, kind=kind, period=month(text)).first()
                assert (entry.amount if entry else None) == expected.credits.get(kind), (text, person.pk, kind)
            assert row["reason"] == expected.skip_reason, (text, person.pk)


def test_half_fen_rounds_up_in_the_run_as_in_to_fen(db, settings):
    """Rounding once, half up (core.money.to_fen): 4446.00 × 2.25% = 100.035 → 100.04."""
    use_region(settings, "zaozhuang")
    person = member(contribution_base="4446.00")
    run("2023-01")
    assert LedgerEntry.objects.get(account__member=person).amount == D("100.04")


def test_missing_average_pension_stops_the_run_before_anything_is_credited(db, settings):
    """Zaozhuang 第七条(二)1 names the 2023 average pension: without it nothing is credited, not even
    the in-service members, and the refused run names what is missing."""
    use_region(settings, "zaozhuang")
    worker = member(contribution_base="6000.00")
    retiree = member(born=date(1950, 1, 1), employment_status="retired")
    with pytest.raises(MissingReferenceData) as refusal:
        run("2024-03")
    assert refusal.value.code == "missing_reference"
    assert any("average_pension 2023" in text for text in refusal.value.details["missing"])
    assert not LedgerEntry.objects.exists()
    assert not PersonalAccount.objects.filter(member__in=[worker, retiree]).exists()
    refused = CreditRun.objects.get()
    assert refused.status == CreditRun.Status.REFUSED and "average_pension 2023" in refused.message


def test_a_missing_value_nobody_needs_does_not_stop_the_run(db, settings):
    """Only data that some member of the month needs stops the run (no retirees: no average pension)."""
    use_region(settings, "zaozhuang")
    worker = member(contribution_base="6000.00")
    assert run("2024-03").status == CreditRun.Status.COMPLETED
    assert LedgerEntry.objects.get(account__member=worker).amount == D("120.00")


def test_no_policy_in_force_stops_the_run(db, settings):
    settings.REGION = "ziyang"
    member(contribution_base="6000.00")
    with pytest.raises(MissingReferenceData) as refusal:
        run("2023-02")
    assert "no account-credit policy" in refusal.value.details["missing"][0]
    assert not LedgerEntry.objects.exists()


def test_a_run_that_crashes_halfway_is_run_again_and_credits_each_member_once(db, settings):
    """Zaozhuang 第七条: exactly once per account and month, whatever the failures."""
    use_region(settings, "zaozhuang")
    people = [member(contribution_base="6000.00") for _ in range(3)]
    credit_run = credit_month_start(month=month("2024-03"), chunk_size=1)
    bounds = credit_run_chunk_bounds(credit_run)
    credit_run_chunk(run_id=credit_run.pk, low=bounds[0][0], high=bounds[0][1])
    original = account_credit_sql.credit_range

    def crash_after_inserting(**kwargs):
        original(**kwargs)
        raise RuntimeError("worker lost")

    with mock.patch.object(account_credit_sql, "credit_range", crash_after_inserting), pytest.raises(RuntimeError):
        credit_run_chunk(run_id=credit_run.pk, low=bounds[1][0], high=bounds[1][1])
    assert LedgerEntry.objects.count() == 1  # the crashed chunk left nothing behind

    again = run("2024-03")
    assert again.members_credited == 2 and again.skipped == {"already_credited": 1}
    for person in people:
        assert LedgerEntry.objects.filter(account__member=person).count() == 1
        assert PersonalAccount.objects.get(member=person).balance == D("120.00")
    assert CreditRun.objects.get(pk=credit_run.pk).status == CreditRun.Status.INTERRUPTED


def test_balance_after_accounts_for_both_credits_of_the_month(db, settings):
    """Zaozhuang 第七条(三): the subsidy entry's balance_after includes the month's normal credit."""
    use_region(settings, "zaozhuang")
    person = member(civil_servant=True, contribution_base="8000.00")
    run("2023-03")
    entries = list(LedgerEntry.objects.filter(account__member=person).order_by("pk"))
    assert [(e.kind, e.amount, e.balance_after) for e in entries] == [
        ("monthly_credit", D("180.00"), D("180.00")),
        ("civil_servant_subsidy", D("200.00"), D("380.00")),
    ]


def test_civil_servant_subsidy_stays_fixed_at_the_december_2022_base(db, settings):
    """Zaozhuang 第七条(三): the subsidy is fixed at 2.5% of the December 2022 base, whatever the
    base later; the normal credit follows the current base."""
    use_region(settings, "zaozhuang")
    person = member(spells=[
        {"civil_servant": True, "contribution_base": "8000.00"},
        {"effective_from": date(2023, 7, 1), "civil_servant": True, "contribution_base": "9000.00"},
    ])
    run("2023-08")
    entries = dict(LedgerEntry.objects.filter(account__member=person).values_list("kind", "amount"))
    assert entries == {"monthly_credit": D("202.50"), "civil_servant_subsidy": D("200.00")}


def test_a_changed_policy_file_for_a_used_version_is_refused(db, settings):
    import json

    from members.services import credit_policy_load

    from .credit_helpers import POLICIES

    use_region(settings, "ziyang")
    member(contribution_base="6000.00")
    run("2023-02")
    data = json.loads((POLICIES / "ziyang.json").read_text(encoding="utf-8"))
    assert credit_policy_load(data=data).rules.count() == 2  # the same file again: nothing changes
    data["rules"][0]["percent"] = "2.50"
    with pytest.raises(DomainError) as refusal:
        credit_policy_load(data=data)
    assert refusal.value.code == "policy_in_use"


def test_reference_values_are_read_per_sector(db, settings):
    """Henan 第二章: a government retiree without the government average stops the run."""
    use_region(settings, "henan", average_pension_2021_enterprise="2800.00")
    member(employment_status="retired", sector="government", born=date(1955, 1, 1))
    with pytest.raises(MissingReferenceData) as refusal:
        run("2023-02")
    assert any("average_pension 2021 government" in text for text in refusal.value.details["missing"])
    ReferenceValue.objects.create(kind="average_pension", year=2021, sector="government", value=D("4500.00"))
    assert run("2023-02").total == D("90.00")


def test_a_month_after_the_policy_ends_credits_nobody_and_says_why(db, settings):
    """Yangzhou's plan runs 2023-01-01 to 2027-12-31: from 2028 no rule applies."""
    use_region(settings, "yangzhou")
    member(contribution_base="6000.00")
    credit_run = run("2028-01")
    assert credit_run.status == CreditRun.Status.COMPLETED
    assert credit_run.skipped == {"no_rule": 1}
    assert not LedgerEntry.objects.exists()
