"""Big tables are never counted whole on every page (STYLE.md: Admin and API)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.paginator import LargeTablePaginator
from core.roles import Role
from members.models import Member
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:members_member_changelist")


@pytest.fixture
def case_worker(client):
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    return user


def _analyze_members():
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_member")


def test_a_big_unfiltered_table_is_estimated_and_never_counted(on_postgres, monkeypatch):
    MemberFactory.create_batch(5, enrollment=False)
    _analyze_members()
    # Pretend five rows is "big", as a million is in production.
    monkeypatch.setattr(LargeTablePaginator, "estimate_from", 1)
    paginator = LargeTablePaginator(Member.objects.order_by("-pk"), 100)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 5
    assert paginator.count_is_estimate
    assert len(queries) == 1
    # The exact count sits in the same query, as an InitPlan PostgreSQL never runs here.
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT TEXT) " + queries.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "InitPlan" in plan and "(never executed)" in plan


def test_a_small_table_is_counted_exactly_in_the_same_single_query(on_postgres):
    MemberFactory.create_batch(3, enrollment=False)
    _analyze_members()
    paginator = LargeTablePaginator(Member.objects.order_by("-pk"), 100)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 3
    assert not paginator.count_is_estimate
    assert len(queries) == 1


def test_a_filtered_list_that_keeps_few_rows_is_counted_exactly():
    MemberFactory.create_batch(2, enrollment=False)
    MemberFactory(status="suspended", enrollment=False)
    paginator = LargeTablePaginator(Member.objects.filter(status="suspended").order_by("-pk"), 100)
    assert paginator.count == 1
    assert not paginator.count_is_estimate


def test_a_filtered_list_that_keeps_many_rows_shows_the_planners_estimate(on_postgres, monkeypatch):
    MemberFactory.create_batch(6, enrollment=False)
    _analyze_members()
    monkeypatch.setattr(LargeTablePaginator, "estimate_from", 2)
    paginator = LargeTablePaginator(Member.objects.filter(status="active").order_by("-pk"), 100)
    with CaptureQueriesContext(connection) as queries:
        estimate = paginator.count
    assert paginator.count_is_estimate
    assert estimate >= 2
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["EXPLAIN"]


def test_the_member_changelist_says_about_when_it_shows_an_estimate(on_postgres, client, case_worker, monkeypatch):
    MemberFactory.create_batch(4, enrollment=False)
    _analyze_members()
    monkeypatch.setattr(LargeTablePaginator, "estimate_from", 1)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="en")
    assert response.context["cl"].paginator.count_is_estimate
    assert "about 4 members" in " ".join(response.content.decode().split())
    assert not any(q["sql"].startswith("SELECT COUNT(") for q in queries.captured_queries)
