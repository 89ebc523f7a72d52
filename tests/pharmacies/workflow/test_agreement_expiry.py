"""Agreements past their end date expire on schedule (the daily beat task), the provider can no
longer settle (code agreement_expired), renewal takes the credit score into account (Ziyang
第二十一条(二): assessment results tied to renewal), and the portal shows what is about to expire."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from claims.models import Claim
from core.errors import DomainError
from core.models import AuditEvent
from pharmacies import services
from pharmacies.models import Agreement, Notification, Provider, WorkflowTransition
from pharmacies.tasks import expire_agreements
from supervision.models import ProviderCreditScore
from tests.claims.conftest import catalog, make_member, provider_client, region  # noqa: F401  (fixtures)
from tests.factories import ProviderFactory, ProviderStaffFactory

TODAY = timezone.localdate


def in_force(provider, *, ends, signer, status=Agreement.Status.ACTIVE, starts=None):
    return Agreement.objects.create(
        provider=provider, period_from=starts or ends - timedelta(days=364), period_to=ends,
        payment_method=Agreement.PaymentMethod.PER_ITEM, outpatient_pooling=True, status=status, signed_by=signer,
    )


def test_the_daily_task_expires_agreements_past_their_end_and_the_provider(case_worker):
    today = TODAY()
    ended = ProviderFactory(name="到期医院")
    last_day = ProviderFactory()
    suspended = ProviderFactory(status=Provider.Status.SUSPENDED)
    old = in_force(ended, ends=today - timedelta(days=1), signer=case_worker)
    current = in_force(last_day, ends=today, signer=case_worker)  # valid through its last day
    sanctioned = in_force(suspended, ends=today - timedelta(days=3), signer=case_worker,
                          status=Agreement.Status.SUSPENDED)

    assert sorted(expire_agreements()) == sorted([old.pk, sanctioned.pk])

    for row in (old, current, sanctioned, ended, last_day, suspended):
        row.refresh_from_db()
    assert (old.status, ended.status) == ("expired", "expired")
    assert (current.status, last_day.status) == ("active", "active")
    # A suspended provider stays suspended: an auditor lifts the sanction, not the calendar.
    assert (sanctioned.status, suspended.status) == ("expired", "suspended")
    transition = WorkflowTransition.objects.get(agreement=old, action="expire")
    assert transition.actor is None and transition.to_status == "expired"
    assert WorkflowTransition.objects.filter(provider=ended, action="expire_provider").exists()
    assert AuditEvent.objects.filter(action="workflow_expire").count() == 2
    assert Notification.objects.filter(provider=ended).count() == 1
    # Again: nothing more to do, nothing written twice.
    assert expire_agreements() == []
    assert WorkflowTransition.objects.filter(action="expire").count() == 2


def test_the_expiry_is_scheduled_daily(db):
    task = PeriodicTask.objects.get(task="pharmacies.expire_agreements")
    assert (task.enabled, task.crontab.hour, task.crontab.minute, task.crontab.day_of_month) == (True, "0", "10", "*")


def test_an_expired_provider_cannot_settle(case_worker, region, catalog, provider_client):  # noqa: F811
    region("zaozhuang")
    provider = ProviderFactory(kind="institution", level="level_1")
    in_force(provider, ends=TODAY() - timedelta(days=1), signer=case_worker)
    services.agreements_expire_due()
    member = make_member()
    response = provider_client(provider).post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": TODAY().isoformat(), "external_ref": "AFTER-END",
        "benefit": "outpatient_pooling", "visit_place": "local", "use_account": False,
        "items": [{"code": "A-DRUG", "quantity": "3"}],
    }, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "agreement_expired"
    assert not Claim.objects.exists()


def test_a_renewal_activated_after_expiry_lets_the_provider_settle_again(case_worker):
    today = TODAY()
    provider = ProviderFactory()
    old = in_force(provider, ends=today - timedelta(days=1), signer=case_worker)
    renewal = services.agreement_renew(agreement=old, actor=case_worker, period_to=today + timedelta(days=365),
                                       reason="续签")
    services.agreements_expire_due()
    provider.refresh_from_db()
    assert provider.status == "expired"
    services.agreement_activate(agreement=renewal, actor=case_worker)
    provider.refresh_from_db()
    renewal.refresh_from_db()
    assert (provider.status, renewal.status) == ("active", "active")


def test_renewal_is_refused_for_a_failing_credit_grade_and_records_the_score(case_worker):
    """Ziyang 第二十一条(二): the assessment is tied to renewal; grade D (score below 60) refuses it
    (settings.AGREEMENT_RENEWAL_REFUSED_GRADES, the agency's choice)."""
    today = TODAY()
    failing, good = ProviderFactory(), ProviderFactory()
    ProviderCreditScore.objects.create(provider=failing, year=today.year - 1, score=55, grade="D")
    ProviderCreditScore.objects.create(provider=good, year=today.year - 2, score=50, grade="D")
    ProviderCreditScore.objects.create(provider=good, year=today.year - 1, score=82, grade="B")
    refused_agreement = in_force(failing, ends=today + timedelta(days=30), signer=case_worker)
    with pytest.raises(DomainError) as refused:
        services.agreement_renew(agreement=refused_agreement, actor=case_worker,
                                 period_to=today + timedelta(days=400), reason="到期续签")
    assert refused.value.code == "credit_grade_refuses_renewal"
    assert refused.value.details["grade"] == "D" and refused.value.details["score"] == 55
    assert Agreement.objects.filter(provider=failing).count() == 1  # nothing written

    renewal = services.agreement_renew(agreement=in_force(good, ends=today + timedelta(days=30), signer=case_worker),
                                       actor=case_worker, period_to=today + timedelta(days=400), reason="到期续签")
    transition = WorkflowTransition.objects.get(agreement=renewal, action="renew")
    assert "82" in transition.reason and "B" in transition.reason


def test_renewal_without_a_credit_reader_or_score_is_not_held_back(case_worker, settings):
    settings.PROVIDER_CREDIT_READER = ""
    today = TODAY()
    provider = ProviderFactory()
    ProviderCreditScore.objects.create(provider=provider, year=today.year - 1, score=10, grade="D")
    agreement = in_force(provider, ends=today + timedelta(days=30), signer=case_worker)
    assert services.agreement_renew(agreement=agreement, actor=case_worker, period_to=today + timedelta(days=400),
                                    reason="续签").status == "signed"


def test_the_portal_shows_the_agreement_about_to_expire(case_worker):
    today = TODAY()
    soon, later = ProviderFactory(), ProviderFactory()
    in_force(soon, ends=today + timedelta(days=20), signer=case_worker)
    in_force(later, ends=today + timedelta(days=200), signer=case_worker)
    client = Client()
    client.force_login(ProviderStaffFactory(provider=soon).user)
    page = client.get("/portal/").content.decode()
    assert 'id="agreement-expiring"' in page and "20" in page
    client.force_login(ProviderStaffFactory(provider=later).user)
    assert 'id="agreement-expiring"' not in client.get("/portal/").content.decode()
    assert list(services.agreements_expiring().values_list("provider", flat=True)) == [soon.pk]
