"""Admin screens of the workflow: actions call the services, refusals are shown, history is visible."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from core.roles import Role
from pharmacies import services
from pharmacies.models import Agreement, Application, Provider
from tests.factories import UserFactory

from .conftest import pdf
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
    # One person may no longer hold both roles (core.roles.INCOMPATIBLE_ROLES); a superuser does.
    both = UserFactory(is_superuser=True, roles=[Role.AUDITOR])
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


def _inline_management(**totals):
    data = {}
    for prefix in ("documents", "conditions", "agreements", "transitions"):
        total = totals.get(prefix, 0)
        data.update({f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": "0"})
    return data


def test_new_institution_goes_from_draft_to_active_agreement_through_the_admin(
    client, case_worker, auditor
):
    """Ziyang 第十九条: filed and reviewed by 经办, approved by 稽核 (another person), signed, in force."""
    client.force_login(case_worker)
    client.post(
        reverse("admin:pharmacies_application_add"),
        {
            "code": "H37040054321",
            "name": "城东社区卫生服务中心",
            "kind": "institution",
            "level": "community_health_centre",
            "district": "城东区",
            "outpatient_pooling": "on",
            "contact_name": "",
            "contact_phone": "",
            "contact_email": "office@chc.example",
            **_inline_management(),
        },
    )
    application = Application.objects.get(code="H37040054321")
    change = reverse("admin:pharmacies_application_change", args=[application.pk])
    # The licence uploaded in the admin's inline: a file that is not what it claims is refused.
    fields = {
        "code": application.code,
        "name": application.name,
        "kind": "institution",
        "level": "community_health_centre",
        "district": "城东区",
        "outpatient_pooling": "on",
        "contact_name": "",
        "contact_phone": "",
        "contact_email": "office@chc.example",
        **_inline_management(documents=1),
        "documents-0-kind": "practising_licence",
    }
    fake = SimpleUploadedFile("licence.pdf", b"MZ not a pdf", content_type="application/pdf")
    response = client.post(change, {**fields, "documents-0-file": fake})
    assert response.status_code == 200 and not application.documents.exists()
    response = client.post(change, {**fields, "documents-0-file": pdf("执业许可证.pdf")})
    assert response.status_code == 302
    document = application.documents.get()
    assert (document.content_type, document.uploaded_by) == ("application/pdf", case_worker)
    # through the service, as in the portal: audited (it was saved directly before)
    from core.models import AuditEvent

    assert AuditEvent.objects.filter(action="application_add_document", actor=case_worker,
                                     details__document=document.pk).count() == 1

    _action(client, "submit", [application])
    _action(client, "start_review", [application])
    _action(
        client,
        "record_inspection",
        [application],
        apply="1",
        inspected_on="2026-11-20",
        notes="现场核验通过",
    )
    client.force_login(auditor)
    _action(client, "approve", [application], apply="1", reason="")
    client.force_login(case_worker)
    today = timezone.localdate()
    _action(
        client,
        "sign_agreement",
        [application],
        apply="1",
        period_from=today.isoformat(),
        period_to=(today + timedelta(days=364)).isoformat(),
        payment_method="capitation",
        outpatient_pooling="on",
    )
    _action(client, "activate_agreement", [application])

    application.refresh_from_db()
    provider = Provider.objects.get(code="H37040054321")
    assert application.status == "active" and application.provider == provider
    assert (provider.level, provider.outpatient_pooling, provider.status) == (
        "community_health_centre",
        True,
        "active",
    )
    assert (application.reviewer, application.decided_by) == (case_worker, auditor)
    assert provider.agreements.get().payment_method == "capitation"


def test_documents_are_served_to_agency_staff_only_never_from_media_url(
    client, case_worker, pharmacy_user, submitted
):
    document = submitted.documents.get()
    url = document.file.url
    assert url.startswith("/admin/pharmacies/application/documents/")
    client.force_login(pharmacy_user)  # provider staff never reach the admin
    assert client.get(url).status_code == 302
    client.force_login(case_worker)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
