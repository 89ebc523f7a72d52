"""The database lost in the middle of a request: 503 `database_unavailable` in the one error
shape with Retry-After, the settlement's transaction rolled back, and the same request settles
once when sent again. (tests/faults/test_postgres_restart.py does it with a real restart.)"""

from decimal import Decimal
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from claims import services
from claims.models import Claim
from members.models import PersonalAccount

from .conftest import make_member
from .test_settlement_api import api, body, level1, written, zaozhuang  # noqa: F401 - fixtures


@pytest.fixture
def settle(zaozhuang, api):  # noqa: F811 (the fixture imported above)
    def post(data):
        return api.post("/api/v1/settlements", data, format="json")

    return post


def assert_unavailable(response, retry_after="5"):
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == retry_after
    assert response["Content-Type"].startswith("application/json")
    payload = response.json()
    assert set(payload) == {"code", "message", "details"}
    assert payload["code"] == "database_unavailable"
    assert payload["details"] == {"retry_after": int(retry_after)}
    assert "数据库" in payload["message"], payload["message"]
    return payload


def test_connection_lost_at_the_last_write_rolls_the_settlement_back(settle):
    """The audit event is the settlement transaction's last write: failing there, after the
    claim, its lines, the ledger entry and the member's year were written, leaves none of them."""
    member = make_member(balance="500.00")
    before = written()
    with mock.patch.object(services, "audit", side_effect=OperationalError("server closed the connection unexpectedly")):
        response = settle(body(member, external_ref="HIS-DROP-1"))
    assert_unavailable(response)
    assert written() == before, "a failed settlement left something behind"

    again = settle(body(member, external_ref="HIS-DROP-1"))
    assert again.status_code == 201, again.json()
    paid = Decimal(again.json()["account"])
    assert paid > 0
    assert PersonalAccount.objects.get(member=member).balance == Decimal("500.00") - paid
    replay = settle(body(member, external_ref="HIS-DROP-1"))
    assert replay.status_code == 200
    assert replay.json() == again.json()
    assert Claim.objects.filter(external_ref="HIS-DROP-1").count() == 1


def test_connection_refused_before_the_settlement_starts(settle, settings):
    settings.DATABASE_RETRY_AFTER_SECONDS = 12
    member = make_member(balance="500.00")
    before = written()
    with mock.patch.object(services, "_claim_settle", side_effect=InterfaceError("connection already closed")):
        response = settle(body(member))
    assert_unavailable(response, retry_after="12")
    assert written() == before


def test_the_driver_error_itself_is_also_unavailable(settle):
    psycopg = pytest.importorskip("psycopg")
    member = make_member(balance="500.00")
    before = written()
    with mock.patch.object(services, "_claim_settle", side_effect=psycopg.OperationalError("connection refused")):
        response = settle(body(member))
    assert_unavailable(response)
    assert written() == before


def test_message_follows_the_callers_language(zaozhuang, api):  # noqa: F811 (the fixture imported above)
    member = make_member(balance="500.00")
    with mock.patch.object(services, "_claim_settle", side_effect=OperationalError("the database system is shutting down")):
        response = api.post("/api/v1/settlements", body(member), format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 503
    assert response.json()["message"].startswith("The service cannot reach its database")


def test_a_database_failure_outside_the_api_view_is_a_503_not_a_500(db, settings):
    """In a middleware (session, authentication) the DRF handler is not reached: handler500 sees
    the database error and answers 503 with Retry-After, in the error shape for /api/."""
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    with mock.patch("core.auth.SlidingSessionMiddleware.__call__", side_effect=OperationalError("connection refused")):
        api_response = client.get("/api/v1/providers/me")
        page = client.get("/admin/login/")
    assert_unavailable(api_response)
    assert page.status_code == 503
    assert page["Retry-After"] == "5"


def test_any_other_error_stays_a_500_defect(db, settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    with mock.patch("core.auth.SlidingSessionMiddleware.__call__", side_effect=RuntimeError("a bug")):
        response = client.get("/api/v1/providers/me")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert not response.has_header("Retry-After")


def test_only_failures_that_a_retry_may_cure_are_unavailable():
    """A lost connection, a restart, a timeout, a deadlock: 503 and send it again. A full disk,
    a value past a limit, a missing table: a defect or an operator's problem, a 500 that is
    logged with its traceback, not a retry loop."""
    import sqlite3

    import psycopg
    from django.db import OperationalError

    from core.api import is_database_unavailable

    retry = [psycopg.OperationalError("server closed the connection unexpectedly"),
             psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
             psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
             psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
             psycopg.errors.DeadlockDetected("deadlock detected"),
             psycopg.errors.ConnectionFailure("connection failure"),
             sqlite3.OperationalError("database is locked")]
    defects = [psycopg.errors.DiskFull("could not extend file"),
               psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"),
               sqlite3.OperationalError("no such table: claims_claim")]
    for cause in retry:
        error = OperationalError(str(cause))
        error.__cause__ = cause
        assert is_database_unavailable(error), cause
    for cause in defects:
        error = OperationalError(str(cause))
        error.__cause__ = cause
        assert not is_database_unavailable(error), cause
    assert not is_database_unavailable(ValueError("not a database error"))
