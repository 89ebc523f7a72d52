"""Admin screens of the workflow: actions call the services, refusals are shown, history is visible."""

import re

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.urls import reverse

from core.roles import Role
from pharmacies import services
from pharmacies.models import Agreement, Application
from tests.factories import UserFactory

from .helpers import filled_pharmacy_application, review, sign

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:pharmacies_application_changelist"


def _action(client, action, objects, **form):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [obj.pk for obj in objects], **form}
    return client.post(reverse(CHANGELIST), data, follow=True)


@pytest.fixture
def submitted(pharmacy_user):
    application = filled_pharmacy_application(pharmacy_user)
    return services.application_submit(application=application, actor=pharmacy_user)


def test_case_worker_takes_up_the_review_from_the_admin(client, case_worker, submitted):
    client.force_login(case_worker)
    response = _action(client, "start_review", [submitted])
    assert response.status_code == 200
    submitted.refresh_from_db()
    assert (submitted.status, submitted.reviewer) == ("under_review", case_worker)


def test_inspection_and_approval_ask_for_their_inputs_then_call_the_services(
    client, case_worker, auditor, submitted
):
    services.application_start_review(application=submitted, actor=case_worker)
    client.force_login(case_worker)
    page = _action(client, "record_inspection", [submitted])
    assert page.templates[0].name == "admin/pharmacies/workflow_action.html"
    _action(
        client,
        "record_inspection",
        [submitted],
        apply="1",
        inspected_on="2026-11-20",
        notes="现场核验通过",
    )
    submitted.refresh_from_db()
    assert submitted.inspection_notes == "现场核验通过"

    client.force_login(auditor)
    _action(client, "approve", [submitted], apply="1", reason="同意")
    submitted.refresh_from_db()
    assert (submitted.status, submitted.decided_by) == ("approved", auditor)


def test_the_reviewer_is_refused_as_approver_in_the_admin(client, submitted):
    """Ziyang 第十九条: the refusal reaches the screen; the application stays under review."""
    both = UserFactory(roles=[Role.CASE_WORKER, Role.AUDITOR])
    review(submitted, both)
    client.force_login(both)
    response = _action(client, "approve", [submitted], apply="1", reason="")
    submitted.refresh_from_db()
    assert submitted.status == "under_review"
    assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["error"]


def test_history_and_documents_show_on_the_application_page(
    client, case_worker, pharmacy_user, submitted
):
    client.force_login(case_worker)
    response = client.get(reverse("admin:pharmacies_application_change", args=[submitted.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert submitted.documents.get().original_name in page
    # The history inline names who did each step (here: the provider's staff filed and submitted).
    actors = re.findall(r'field-actor">\s*<p><a href="[^"]*">([^<]*)</a>', page)
    assert actors == [pharmacy_user.username, pharmacy_user.username]
    assert client.get(reverse("admin:pharmacies_workflowtransition_changelist")).status_code == 200
    assert client.get(reverse(CHANGELIST)).status_code == 200


def test_case_worker_files_a_new_provider_in_the_admin(client, case_worker):
    client.force_login(case_worker)
    url = reverse("admin:pharmacies_application_add")
    form = {
        "code": "P37040012345",
        "name": "新开药房",
        "kind": "pharmacy",
        "level": "",
        "district": "",
        "contact_name": "",
        "contact_phone": "",
        "contact_email": "boss@newpharmacy.example",
        **{
            f"{prefix}-{key}": value
            for prefix in ("documents", "conditions", "agreements", "transitions")
            for key, value in {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0"}.items()
        },
    }
    # A pharmacy has no level: the form says so and nothing is written.
    response = client.post(url, {**form, "level": "level_1"})
    assert response.status_code == 200 and not Application.objects.exists()
    response = client.post(url, form)
    application = Application.objects.get()
    assert response.status_code == 302
    assert (application.code, application.filed_by, application.provider) == (
        "P37040012345",
        case_worker,
        None,
    )
    assert application.transitions.get().action == "create"


def test_sanctions_from_the_agreement_list(client, pharmacy, pharmacy_user, case_worker, auditor):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    review(application, case_worker)
    services.application_approve(application=application, actor=auditor)
    agreement = sign(application, case_worker)
    client.force_login(case_worker)
    client.post(
        reverse("admin:pharmacies_agreement_changelist"),
        {"action": "activate", helpers.ACTION_CHECKBOX_NAME: [agreement.pk]},
    )
    agreement.refresh_from_db()
    assert agreement.status == Agreement.Status.ACTIVE

    client.force_login(auditor)
    client.post(
        reverse("admin:pharmacies_agreement_changelist"),
        {
            "action": "suspend_provider",
            helpers.ACTION_CHECKBOX_NAME: [agreement.pk],
            "apply": "1",
            "reason": "稽核发现超量开药",
        },
    )
    pharmacy.refresh_from_db()
    assert pharmacy.status == "suspended"
