"""Monthly statements (清算): figures to the fen, idempotent reruns, freezing on approval, late
reversals, separated duties, deductions. Henan 第五章 / Zaozhuang 第十五条: the agency settles
the fund's and the accounts' shares with each provider monthly."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from claims.models import Deduction, ProviderStatement
from claims.statements.services import (
    deduction_record,
    statement_approve,
    statement_close_month,
    statement_record_payment,
)
from core.errors import Conflict, DomainError
from core.models import AuditEvent
from core.money import to_fen
from core.roles import Role
from tests.factories import ProviderFactory, UserFactory

from .statement_helpers import APRIL, MARCH, local, settled_claim


@pytest.fixture
def policy(region, catalog):
    region("zaozhuang")


@pytest.fixture
def finance(db):
    return UserFactory(roles=[Role.FINANCE])


@pytest.fixture
def other_finance(db):
    return UserFactory(roles=[Role.FINANCE])


def figures(statement):
    return {field: getattr(statement, field) for field in ProviderStatement.FIGURES}


def expected(claims_settled, claims_reversed=(), deductions=Decimal("0.00")):
    """The statement computed in Python from the claims themselves (the test's oracle)."""
    def total(claims, field):
        return sum((getattr(c, field) for c in claims), Decimal("0.00"))

    result = {"settlement_count": len(claims_settled), "reversal_count": len(claims_reversed),
              "deductions_total": deductions}
    for field in ("total", "fund", "large_expense_subsidy", "account", "family_account", "cash"):
        result[field] = total(claims_settled, field)
        result[f"reversed_{field}"] = total(claims_reversed, field)
    result["payable"] = (result["fund"] + result["large_expense_subsidy"] + result["account"] + result["family_account"]
                         - result["reversed_fund"] - result["reversed_large_expense_subsidy"]
                         - result["reversed_account"] - result["reversed_family_account"]
                         - deductions)
    return result


def test_statement_adds_up_to_the_settlements_it_covers_to_the_fen(policy):
    """Henan 第五章: fund and account shares are settled with the provider monthly; cash is not payable."""
    first, second = ProviderFactory(), ProviderFactory()
    amounts = ["0.01", "12.34", "99.99", "1234.56", "0.05", "7.77"]
    mine = [settled_claim(provider=first, settled_at=local(2026, 3, 1 + i), fund=a, account="0.03",
                          family_account="1.01" if i % 2 else "0.00", cash="2.49") for i, a in enumerate(amounts)]
    theirs = [settled_claim(provider=second, settled_at=local(2026, 3, 20), fund="5.55", cash="1.11")]
    # Outside March: not on March's statement.
    settled_claim(provider=first, settled_at=local(2026, 2, 28, 23, 59), fund="100.00")
    settled_claim(provider=first, settled_at=local(2026, 4, 1, 0, 0), fund="100.00")

    result = statement_close_month(month=MARCH)

    assert result.created == 2
    assert figures(ProviderStatement.objects.get(provider=first, month=MARCH)) == expected(mine)
    assert figures(ProviderStatement.objects.get(provider=second, month=MARCH)) == expected(theirs)
    assert ProviderStatement.objects.get(provider=first, month=MARCH).payable == Decimal("1357.93")  # 1354.72 fund + 0.18 account + 3.03 family


def test_month_is_the_local_settlement_date_not_utc(policy):
    provider = ProviderFactory()
    # 23:30 on 31 March in Shanghai is 15:30 UTC the same day; 00:10 on 1 April is 16:10 UTC on 31 March.
    late_march = settled_claim(provider=provider, settled_at=local(2026, 3, 31, 23, 30), fund="10.00")
    settled_claim(provider=provider, settled_at=local(2026, 4, 1, 0, 10), fund="20.00")
    statement_close_month(month=MARCH)
    assert figures(ProviderStatement.objects.get(provider=provider, month=MARCH)) == expected([late_march])


def test_settlement_month_is_by_settlement_time_not_visit_date(policy):
    """A visit of February settled in March is on March's statement (February may be approved)."""
    provider = ProviderFactory()
    claim = settled_claim(provider=provider, settled_at=local(2026, 3, 2), fund="10.00")
    type(claim).objects.filter(pk=claim.pk).update(visit_date=date(2026, 2, 27))
    statement_close_month(month=date(2026, 2, 1))
    statement_close_month(month=MARCH)
    assert not ProviderStatement.objects.filter(month=date(2026, 2, 1)).exists()
    assert ProviderStatement.objects.get(month=MARCH).fund == Decimal("10.00")


def test_rerun_replaces_drafts_with_identical_figures(policy, finance):
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.10", account="3.30")
    settled_claim(provider=provider, settled_at=local(2026, 3, 4), fund="1.00", reversed_at=local(2026, 3, 9))
    deduction_record(provider=provider, amount=Decimal("2.00"), reason="r", source_reference="flag:1", user=finance)
    Deduction.objects.update(decided_on=date(2026, 3, 30))
    statement_close_month(month=MARCH)
    first = ProviderStatement.objects.get()
    before = figures(first)

    result = statement_close_month(month=MARCH)

    again = ProviderStatement.objects.get()
    assert (result.created, result.replaced) == (0, 1)
    assert again.pk == first.pk
    assert figures(again) == before
    assert list(again.deductions.values_list("source_reference", flat=True)) == ["flag:1"]


def test_rerun_removes_a_draft_whose_activity_is_gone(policy):
    provider = ProviderFactory()
    claim = settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.00")
    statement_close_month(month=MARCH)
    type(claim).objects.filter(pk=claim.pk).update(settled_at=local(2026, 2, 3))
    statement_close_month(month=MARCH)
    assert not ProviderStatement.objects.exists()


def test_approved_statement_never_changes(policy, finance):
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.00")
    statement_close_month(month=MARCH)
    statement = ProviderStatement.objects.get()
    statement_approve(statement_id=statement.pk, user=finance)
    frozen = figures(ProviderStatement.objects.get())
    # Activity that would change March (written behind the services' back) and a rerun.
    settled_claim(provider=provider, settled_at=local(2026, 3, 5), fund="99.00")

    result = statement_close_month(month=MARCH)

    assert result.kept_approved == 1
    assert figures(ProviderStatement.objects.get()) == frozen
    # Model guard, whatever the code path.
    statement = ProviderStatement.objects.get()
    statement.fund = Decimal("1.00")
    with pytest.raises(Conflict) as error:
        statement.save()
    assert error.value.code == "statement_frozen"
    with pytest.raises(Conflict):
        ProviderStatement.objects.get().delete()
    assert figures(ProviderStatement.objects.get()) == frozen


def test_late_reversal_lands_on_next_months_statement(policy, finance):
    provider = ProviderFactory()
    claim = settled_claim(provider=provider, settled_at=local(2026, 3, 30), fund="40.00", account="5.00",
                          family_account="1.00", cash="4.00", reversed_at=local(2026, 4, 2))
    statement_close_month(month=MARCH)
    march = ProviderStatement.objects.get(month=MARCH)
    statement_approve(statement_id=march.pk, user=finance)

    statement_close_month(month=APRIL)

    assert figures(ProviderStatement.objects.get(month=MARCH)) == expected([claim])
    april = ProviderStatement.objects.get(month=APRIL)
    assert figures(april) == expected([], [claim])
    assert april.payable == Decimal("-46.00")


def test_settled_and_reversed_in_the_same_month_nets_to_zero(policy):
    provider = ProviderFactory()
    claim = settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="40.00", reversed_at=local(2026, 3, 4))
    statement_close_month(month=MARCH)
    statement = ProviderStatement.objects.get()
    assert figures(statement) == expected([claim], [claim])
    assert statement.payable == Decimal("0.00")


def test_the_generator_cannot_approve_separated_duties(policy, finance):
    """Ziyang 第十九条: handling and approval are incompatible duties."""
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.00")
    statement_close_month(month=MARCH, user=finance)
    statement = ProviderStatement.objects.get()

    with pytest.raises(DomainError) as error:
        statement_approve(statement_id=statement.pk, user=finance)

    assert error.value.code == "separated_duties"
    statement.refresh_from_db()
    assert (statement.status, statement.approved_by) == ("draft", None)
    assert not AuditEvent.objects.filter(action="statement.approve").exists()


def test_only_finance_approves(policy):
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.00")
    statement_close_month(month=MARCH)
    statement = ProviderStatement.objects.get()
    for role in (Role.CASE_WORKER, Role.AUDITOR):
        with pytest.raises(DomainError) as error:
            statement_approve(statement_id=statement.pk, user=UserFactory(roles=[role]))
        assert error.value.code == "forbidden"
    assert ProviderStatement.objects.get().status == "draft"


def test_another_finance_officer_approves_and_then_records_the_payment(policy, finance, other_finance):
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.00")
    statement_close_month(month=MARCH, user=finance)
    statement = ProviderStatement.objects.get()
    with pytest.raises(Conflict):
        statement_record_payment(statement_id=statement.pk, payment_reference="BANK-1", user=other_finance)

    statement_approve(statement_id=statement.pk, user=other_finance)
    with pytest.raises(Conflict) as error:
        statement_approve(statement_id=statement.pk, user=other_finance)
    assert error.value.code == "statement_not_draft"
    statement_record_payment(statement_id=statement.pk, payment_reference="BANK-1", user=finance)

    statement.refresh_from_db()
    assert (statement.status, statement.approved_by, statement.payment_reference) == ("paid", other_finance, "BANK-1")
    assert statement.payable == Decimal("10.00")


def test_deductions_appear_and_reduce_the_payable(policy, finance, other_finance):
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="100.00", account="20.00", cash="30.00")
    in_march = deduction_record(provider=provider, amount=Decimal("15.50"), reason="over-prescription",
                                source_reference="flag:7", user=finance)
    after_march = deduction_record(provider=provider, amount=Decimal("4.00"), reason="late",
                                   source_reference="flag:8", user=finance)
    Deduction.objects.filter(pk=in_march.pk).update(decided_on=date(2026, 3, 31))
    Deduction.objects.filter(pk=after_march.pk).update(decided_on=date(2026, 4, 1))

    statement_close_month(month=MARCH)
    march = ProviderStatement.objects.get(month=MARCH)
    assert march.deductions_total == Decimal("15.50")
    assert march.payable == Decimal("104.50")  # 100 + 20 − 15.50; the 30 cash is not payable
    statement_approve(statement_id=march.pk, user=other_finance)

    # April has no settlement: its statement carries the deduction decided in April only.
    statement_close_month(month=APRIL)
    april = ProviderStatement.objects.get(month=APRIL)
    assert (april.deductions_total, april.payable) == (Decimal("4.00"), Decimal("-4.00"))
    assert list(april.deductions.all()) == [after_march]
    assert list(ProviderStatement.objects.get(month=MARCH).deductions.all()) == [in_march]


def test_deduction_record_is_idempotent_on_source_reference(policy, finance):
    provider = ProviderFactory()
    first = deduction_record(provider=provider, amount=Decimal("10.00"), reason="a", source_reference="flag:123", user=finance)
    again = deduction_record(provider=provider, amount=Decimal("99.00"), reason="b", source_reference="flag:123", user=finance)
    assert again.pk == first.pk
    assert list(Deduction.objects.values_list("amount", flat=True)) == [Decimal("10.00")]
    assert AuditEvent.objects.filter(action="deduction.record").count() == 1


@pytest.mark.parametrize("amount", ["0", "-1.00"])
def test_deduction_must_be_positive(policy, finance, amount):
    with pytest.raises(DomainError) as error:
        deduction_record(provider=ProviderFactory(), amount=Decimal(amount), reason="a", source_reference="x", user=finance)
    assert error.value.code == "invalid_amount"
    assert not Deduction.objects.exists()


def test_a_month_not_yet_ended_cannot_be_closed(policy):
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=timezone.now(), fund="1.00")
    with pytest.raises(DomainError) as error:
        statement_close_month(month=timezone.localdate().replace(day=1))
    assert error.value.code == "month_not_ended"
    assert not ProviderStatement.objects.exists()


def test_close_month_command_and_scheduled_task(policy):
    from django_celery_beat.models import PeriodicTask

    from claims.statements.tasks import close_previous_month

    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.00")
    call_command("close_month", "--month", "2026-03")
    assert ProviderStatement.objects.get().fund == Decimal("10.00")
    assert close_previous_month.delay(month="2026-03").get() == {
        "month": "2026-03", "created": 0, "replaced": 1, "kept_approved": 0, "failed": [],
    }
    task = PeriodicTask.objects.get(task="claims.close_previous_month")
    assert (task.crontab.day_of_month, task.enabled) == ("2", True)


@pytest.mark.django_db
def test_year_end_is_scheduled_on_january_15_for_the_year_before():
    """claims migration 0021: prepare_year_end (no year: last year) every January 15 at 03:00."""
    from django_celery_beat.models import PeriodicTask

    from core.schedules import schedules

    task = PeriodicTask.objects.get(task="claims.prepare_year_end")
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week) == ("0", "3", "15", "1", "*")
    assert (str(crontab.timezone), task.enabled, task.kwargs) == ("Asia/Shanghai", True, "{}")
    assert "每年1月15日 03:00" in [row.when for row in schedules()]


def test_cross_region_settlements_are_not_on_provider_statements(policy):
    """They are on the month's cross-region clearing statement (tests/claims/test_clearing_statements.py)."""
    provider = ProviderFactory()
    remote = settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.00")
    type(remote).objects.filter(pk=remote.pk).update(provider=None, submitter="cross_region", visit_place="in_province")
    statement_close_month(month=MARCH)
    assert not ProviderStatement.objects.filter(provider__isnull=False).exists()
    assert ProviderStatement.objects.get().clearing == ProviderStatement.Clearing.IN_PROVINCE


def test_statements_add_up_on_postgresql(on_postgres, policy, finance):
    """The same figures from PostgreSQL's aggregates, across many providers and fen amounts."""
    providers = [ProviderFactory() for _ in range(5)]
    settled, reversed_ = {p.pk: [] for p in providers}, {p.pk: [] for p in providers}
    user = UserFactory()
    for i in range(120):
        provider = providers[i % 5]
        fen = Decimal(i * 37 % 1000) / 100
        claim = settled_claim(provider=provider, settled_at=local(2026, 3, 1 + i % 28, i % 24), fund=fen,
                              account=Decimal(i % 7) / 100, family_account=Decimal(i % 3) / 100, cash=to_fen(fen / 2) if i % 4 else "0.00",
                              reversed_at=local(2026, 3, 28, 23) if i % 9 == 0 else (local(2026, 4, 2) if i % 11 == 0 else None),
                              user=user)
        settled[provider.pk].append(claim)
        if i % 9 == 0:
            reversed_[provider.pk].append(claim)
    statement_close_month(month=MARCH)
    for provider in providers:
        assert figures(ProviderStatement.objects.get(provider=provider, month=MARCH)) == expected(
            settled[provider.pk], reversed_[provider.pk])



def _close_month_queries(month):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        statement_close_month(month=month)
    return len(captured)


def test_close_month_query_count_does_not_grow_with_claims_or_providers(policy, finance):
    """Computed in the database: the same number of queries for 2 providers as for 10, for 4
    claims as for 50 (no claim is loaded into Python)."""
    def activity(month, providers, per_provider):
        for provider in [ProviderFactory() for _ in range(providers)]:
            for day in range(1, per_provider + 1):
                settled_claim(provider=provider, settled_at=local(month.year, month.month, day), fund="1.00", user=finance)
            deduction = deduction_record(provider=provider, amount=Decimal("1.00"), reason="r",
                                         source_reference=f"flag:{provider.pk}", user=finance)
            Deduction.objects.filter(pk=deduction.pk).update(decided_on=month)

    activity(MARCH, 2, 2)
    activity(APRIL, 10, 5)
    small, large = _close_month_queries(MARCH), _close_month_queries(APRIL)
    assert ProviderStatement.objects.filter(month=APRIL).count() == 10
    assert large == small
    # and a rerun replacing the drafts, too
    assert _close_month_queries(APRIL) == _close_month_queries(MARCH)


@pytest.mark.django_db(transaction=True)
def test_deduction_record_runs_inside_another_services_transaction(region, catalog):
    """Supervision's flag_deduct calls deduction_record inside its transaction: it must
    nest, and roll back with the caller."""
    from django.db import transaction

    region("zaozhuang")
    provider, user = ProviderFactory(), UserFactory(roles=[Role.AUDITOR])
    with transaction.atomic(durable=True):
        deduction_record(provider=provider, amount=Decimal("3.00"), reason="r", source_reference="flag:1", user=user)
    with pytest.raises(RuntimeError), transaction.atomic(durable=True):
        deduction_record(provider=provider, amount=Decimal("4.00"), reason="r", source_reference="flag:2", user=user)
        raise RuntimeError("the caller fails after recording")
    assert list(Deduction.objects.values_list("source_reference", flat=True)) == ["flag:1"]


def test_one_providers_data_out_of_range_never_fails_the_month_for_the_others(policy):
    """Two huge claims once made close_month fail for every provider on PostgreSQL: the sum no
    longer fits a statement's figures. That provider is left out and recorded; the rest close."""
    from io import StringIO

    sound, broken = ProviderFactory(), ProviderFactory()
    settled_claim(provider=sound, settled_at=local(2026, 3, 3), fund="10.00")
    for day in (4, 5):
        settled_claim(provider=broken, settled_at=local(2026, 3, day), fund="600000000000.00")
    result = statement_close_month(month=MARCH)
    assert result.created == 1
    assert result.failed == ((broken.code, "total out of range"),)
    assert ProviderStatement.objects.get().provider == sound
    assert ProviderStatement.objects.get().fund == Decimal("10.00")
    event = AuditEvent.objects.get(action="statement.close_month.failed")
    assert (event.target_label, event.details["month"], event.details["reason"]) == (broken.code, "2026-03", "total out of range")
    err = StringIO()
    call_command("close_month", "--month", "2026-03", stderr=err, stdout=StringIO())
    assert f"FAILED provider {broken.code}: total out of range" in err.getvalue()
    assert ProviderStatement.objects.count() == 1


def test_a_row_the_database_refuses_fails_only_its_provider(policy, monkeypatch):
    """A failure the range check does not foresee (here a refused INSERT) still leaves the other
    providers' statements written, each in its own savepoint."""
    from django.db import DataError

    from claims.models import ProviderStatement as Model

    first, second = ProviderFactory(), ProviderFactory()
    settled_claim(provider=first, settled_at=local(2026, 3, 3), fund="1.00")
    settled_claim(provider=second, settled_at=local(2026, 3, 3), fund="2.00")
    original_save = Model.save

    def bulk(objs, *args, **kwargs):
        raise DataError("numeric field overflow")

    def save(self, *args, **kwargs):
        if self.provider_id == second.pk:
            raise DataError("numeric field overflow")
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Model.objects, "bulk_create", bulk)
    monkeypatch.setattr(Model, "save", save)
    result = statement_close_month(month=MARCH)
    assert result.failed == ((second.code, "DataError: numeric field overflow"),)
    assert list(Model.objects.values_list("provider__code", "fund")) == [(first.code, Decimal("1.00"))]
