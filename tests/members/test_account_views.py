"""Seeing the account: the API, the printable statement, the admin, the command and the task."""

import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.roles import Role
from members.models import CreditRun, LedgerEntry, PersonalAccount
from members.services import account_lock, account_post_entry
from tests.factories import ProviderStaffFactory, UserFactory, api_key

from .credit_helpers import POLICIES, member, use_region

D = Decimal


@pytest.fixture
def credited(db, settings):
    use_region(settings, "zaozhuang")
    person = member(contribution_base="6000.00")
    call_command("run_monthly_credits", "--month", "2024-03", stdout=StringIO())
    return person


def test_provider_reads_the_account_balance_and_entries_and_the_read_is_audited(credited):
    staff = ProviderStaffFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(staff.user)}")
    response = client.get(f"/api/v1/members/{credited.id_number}/account")
    assert response.status_code == 200
    body = response.json()
    assert body["balance"] == "120.00"
    assert [(e["kind"], e["amount"], e["period"]) for e in body["entries"]] == [
        ("monthly_credit", "120.00", "2024-03-01")
    ]
    assert credited.id_number not in json.dumps(body)  # masked
    event = AuditEvent.objects.get(action="account.read")
    assert event.actor == staff.user and credited.id_number not in json.dumps(event.details)


def test_the_account_api_refuses_anonymous_callers_and_answers_404_in_the_one_shape(credited):
    client = APIClient()
    assert client.get(f"/api/v1/members/{credited.id_number}/account").status_code == 401
    client.force_authenticate(UserFactory(roles=[Role.CASE_WORKER]))
    response = client.get("/api/v1/members/110101199001011237/account")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "details"}


def test_yearly_statement_shows_opening_credits_payments_and_closing(credited, settings):
    account = PersonalAccount.objects.get(member=credited)
    account_lock(account_ids=[account.pk])
    account_post_entry(account=account, kind=LedgerEntry.Kind.SETTLEMENT_PAYMENT, amount=D("-20.50"),
                       reference="settlement:1")
    from members.statements import account_statement

    statement = account_statement(account, date.today().year)
    assert (statement.opening, statement.credits, statement.payments, statement.closing) == (
        D("0.00"), D("120.00"), D("-20.50"), D("99.50"))
    client = __import__("django.test", fromlist=["Client"]).Client()
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    page = client.get(reverse("members:account-statement", args=[credited.pk, date.today().year]))
    assert page.status_code == 200 and b"99.50" in page.content
    assert credited.id_number.encode() not in page.content


def test_the_statement_is_for_agency_staff_only(credited):
    from django.test import Client

    client = Client()
    client.force_login(ProviderStaffFactory().user)
    page = client.get(reverse("members:account-statement", args=[credited.pk, 2024]))
    assert page.status_code in (302, 403)


@pytest.mark.parametrize("path", [
    "/admin/members/personalaccount/", "/admin/members/creditrun/", "/admin/members/accountdecision/",
    "/admin/members/creditpolicy/", "/admin/members/accountdecision/add/",
])
def test_admin_pages_open_for_case_workers(credited, path):
    from django.test import Client

    client = Client()
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    assert client.get(path).status_code == 200


def test_finance_sees_the_credit_run_in_the_admin(credited):
    from django.test import Client

    run = CreditRun.objects.get()
    client = Client()
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    page = client.get(f"/admin/members/creditrun/{run.pk}/change/")
    assert page.status_code == 200 and b"120.00" in page.content


def test_the_account_admin_is_read_only(credited):
    from django.test import Client

    account = PersonalAccount.objects.get(member=credited)
    client = Client()
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    client.post(f"/admin/members/personalaccount/{account.pk}/change/", {"balance": "99999.00"})
    account.refresh_from_db()
    assert account.balance == D("120.00")


def test_the_command_names_missing_reference_data_and_credits_nothing(db, settings):
    use_region(settings, "zaozhuang")
    member(born=date(1950, 1, 1), employment_status="retired")
    with pytest.raises(CommandError, match="average_pension 2023"):
        call_command("run_monthly_credits", "--month", "2024-03", stdout=StringIO())
    assert not LedgerEntry.objects.exists()


def test_the_celery_task_credits_the_month_in_chunks(db, settings, django_capture_on_commit_callbacks):
    """The chunks are enqueued after the run is committed (delay_on_commit)."""
    from members.tasks import credit_month

    use_region(settings, "ziyang")
    people = [member(contribution_base="5000.00") for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run_id = credit_month("2023-02")
    assert len(callbacks) == 1
    run = CreditRun.objects.get(pk=run_id)
    assert (run.status, run.members_credited, run.total) == ("completed", 3, D("300.00"))
    assert all(PersonalAccount.objects.get(member=p).balance == D("100.00") for p in people)


def test_beat_schedules_the_monthly_credit_and_the_schedule_is_editable_data(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="members.credit_month")
    assert task.enabled and task.crontab.day_of_month == "1"


def test_load_credit_policy_command_is_idempotent(db):
    out = StringIO()
    for _ in range(2):
        call_command("load_credit_policy", str(POLICIES / "jinan.json"), stdout=out)
    from members.models import CreditPolicy

    assert CreditPolicy.objects.get(region="jinan").rules.count() == 5


def test_every_shipped_preset_loads(db):
    from members.services import credit_policy_load

    for path in sorted(POLICIES.glob("*.json")):
        policy = credit_policy_load(data=json.loads(path.read_text(encoding="utf-8")))
        assert policy.rules.exists() and policy.allowed_premiums, path.name


def test_a_malformed_policy_file_is_refused_with_the_field_named(db):
    from core.errors import DomainError
    from members.services import credit_policy_load

    data = json.loads((POLICIES / "ziyang.json").read_text(encoding="utf-8"))
    data["rules"][0]["percent"] = "2.125"
    with pytest.raises(DomainError) as refusal:
        credit_policy_load(data=data)
    assert refusal.value.code == "invalid_policy" and "rules[0].percent" in refusal.value.details
