"""Each designation workflow action is offered only to the role its service allows (core/roles.py):
the case worker (经办) files, reviews, inspects, signs, brings into force and renews; the auditor
(稽核) approves or rejects and suspends, reinstates or terminates a provider (Ziyang 第十九条).
Finance (财务) and the administrator (系统管理) view the lists and are offered nothing. A role
that posts an action it is not offered gets Django's answer to an unknown action, and nothing
is written. Found by the admin write-path test: every action was offered to every viewer."""

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from core.models import AuditEvent
from core.roles import Role
from pharmacies import services
from pharmacies.models import WorkflowTransition
from tests.factories import UserFactory

from .helpers import filled_pharmacy_application

pytestmark = pytest.mark.django_db

APPLICATION = "admin:pharmacies_application_changelist"
AGREEMENT = "admin:pharmacies_agreement_changelist"

CASE_WORKER_APPLICATION = ["submit", "start_review", "record_inspection", "sign_agreement", "activate_agreement"]
AUDITOR_APPLICATION = ["approve", "reject"]
CASE_WORKER_AGREEMENT = ["activate", "renew"]
AUDITOR_AGREEMENT = ["suspend_provider", "reinstate_provider", "terminate_provider"]

OFFERED = {
    Role.CASE_WORKER: {APPLICATION: CASE_WORKER_APPLICATION, AGREEMENT: CASE_WORKER_AGREEMENT},
    Role.AUDITOR: {APPLICATION: AUDITOR_APPLICATION, AGREEMENT: AUDITOR_AGREEMENT},
    Role.FINANCE: {APPLICATION: [], AGREEMENT: []},
    Role.ADMINISTRATOR: {APPLICATION: [], AGREEMENT: []},
}


def _offered(client, changelist):
    response = client.get(reverse(changelist))
    assert response.status_code == 200
    form = response.context["action_form"]
    return [value for value, _label in form.fields["action"].choices if value] if form else []


@pytest.mark.parametrize("role", list(OFFERED))
def test_each_role_is_offered_only_the_actions_its_services_allow(client, role):
    client.force_login(UserFactory(roles=[role]))
    assert {changelist: sorted(_offered(client, changelist)) for changelist in (APPLICATION, AGREEMENT)} == {
        changelist: sorted(names) for changelist, names in OFFERED[role].items()}


def test_a_superuser_is_offered_every_workflow_action(client):
    superuser = UserFactory(is_superuser=True, is_staff=True)
    superuser.save()  # the factory sets the password after saving
    client.force_login(superuser)
    # … and Django's delete of applications (agreements are never deleted).
    assert sorted(_offered(client, APPLICATION)) == sorted(
        CASE_WORKER_APPLICATION + AUDITOR_APPLICATION + ["delete_selected"])
    assert sorted(_offered(client, AGREEMENT)) == sorted(CASE_WORKER_AGREEMENT + AUDITOR_AGREEMENT)


@pytest.fixture
def submitted(pharmacy_user):
    return services.application_submit(application=filled_pharmacy_application(pharmacy_user), actor=pharmacy_user)


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.FINANCE, Role.ADMINISTRATOR])
def test_a_hidden_action_posted_directly_changes_nothing(client, submitted, role):
    """start_review is the case worker's: anyone else posting it gets "no action selected"."""
    client.force_login(UserFactory(roles=[role]))
    events, transitions = AuditEvent.objects.count(), WorkflowTransition.objects.count()
    response = client.post(reverse(APPLICATION), {
        "action": "start_review", helpers.ACTION_CHECKBOX_NAME: [submitted.pk], "index": "0"}, follow=True)
    assert response.status_code == 200
    submitted.refresh_from_db()
    assert (submitted.status, submitted.reviewer) == ("submitted", None)
    assert (AuditEvent.objects.count(), WorkflowTransition.objects.count()) == (events, transitions)
    if role != Role.AUDITOR:  # finance and the administrator have no action at all: the changelist
        return
    with translation.override(response.wsgi_request.LANGUAGE_CODE):
        expected = [gettext("No action selected.")]
    assert [str(message) for message in get_messages(response.wsgi_request)] == expected


@pytest.mark.parametrize("role", [Role.CASE_WORKER, Role.FINANCE, Role.ADMINISTRATOR])
def test_a_hidden_decision_with_its_form_changes_nothing(client, submitted, case_worker, role):
    """approve is the auditor's, its reason form included: posting the form itself does nothing."""
    services.application_start_review(application=submitted, actor=case_worker)
    client.force_login(UserFactory(roles=[role]))
    events = AuditEvent.objects.count()
    response = client.post(reverse(APPLICATION), {
        "action": "approve", helpers.ACTION_CHECKBOX_NAME: [submitted.pk], "apply": "1", "reason": "同意"})
    assert response.status_code in (200, 302)
    submitted.refresh_from_db()
    assert (submitted.status, submitted.decided_by) == ("under_review", None)
    assert AuditEvent.objects.count() == events
