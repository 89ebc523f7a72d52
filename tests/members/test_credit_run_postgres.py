"""On PostgreSQL, with real transactions: concurrent runs and a crashed chunk credit each member once."""

import threading
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection

from members import account_credit_sql
from members.models import CreditRun, LedgerEntry, PersonalAccount
from members.services import credit_month_start, credit_run_chunk, credit_run_chunk_bounds

from .credit_helpers import member, month, run, use_region

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_concurrent_runs_of_the_same_month_credit_each_member_once(on_postgres, settings):
    """Zaozhuang 第七条: a month is credited once per account, by the unique constraint and the locks."""
    use_region(settings, "zaozhuang")
    people = [member(contribution_base="6000.00") for _ in range(6)]
    runs = [credit_month_start(month=month("2024-03"), chunk_size=2) for _ in range(2)]
    errors = []

    def work(credit_run):
        try:
            for low, high in credit_run_chunk_bounds(credit_run):
                credit_run_chunk(run_id=credit_run.pk, low=low, high=high)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(credit_run,)) for credit_run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for person in people:
        assert LedgerEntry.objects.filter(account__member=person, kind="monthly_credit").count() == 1
        assert PersonalAccount.objects.get(member=person).balance == Decimal("120.00")
    credited = sum(CreditRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("members_credited", flat=True))
    assert credited == 6


def test_a_crashed_chunk_commits_nothing_and_the_rerun_completes(on_postgres, settings):
    use_region(settings, "zaozhuang")
    people = [member(contribution_base="6000.00") for _ in range(3)]
    original = account_credit_sql.credit_range

    def crash(**kwargs):
        original(**kwargs)
        raise RuntimeError("worker lost")

    with mock.patch.object(account_credit_sql, "credit_range", crash), pytest.raises(RuntimeError):
        run("2024-03", chunk_size=1)
    assert not LedgerEntry.objects.exists()
    assert run("2024-03").members_credited == 3
    assert run("2024-03").skipped == {"already_credited": 3}
    for person in people:
        assert PersonalAccount.objects.get(member=person).balance == Decimal("120.00")
