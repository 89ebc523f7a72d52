"""The provider portal: own provider only, CSRF on, documents checked (API tokens: test_portal_tokens)."""

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from core.errors import DomainError
from pharmacies import services
from pharmacies.models import Application, ApplicationDocument, Notification
from tests.factories import ProviderStaffFactory

from .conftest import ALL_CONDITIONS, PDF, pdf, png
from .helpers import filled_pharmacy_application, review, sign

pytestmark = pytest.mark.django_db


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def portal(client, pharmacy_user):
    client.force_login(pharmacy_user)
    return client


def test_provider_staff_log_in_and_agency_staff_are_refused(client, pharmacy_user, case_worker):
    response = client.post(
        reverse("portal:login"),
        {"username": case_worker.username, "password": "correct-horse-battery"},
    )
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    response = client.post(
        reverse("portal:login"),
        {"username": pharmacy_user.username, "password": "correct-horse-battery"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    assert client.get(reverse("portal:home")).status_code == 200
    client.post(reverse("portal:logout"))
    assert client.get(reverse("portal:home")).status_code == 302


def test_the_portal_header_names_the_person_and_the_provider_not_the_username(client, pharmacy):
    """The header reads 定点机构名 · 王芳 (姓 then 名), the username only when no name is set (issue 16)."""
    import re

    named = ProviderStaffFactory(provider=pharmacy, user__username="provider", user__last_name="王", user__first_name="芳")
    client.force_login(named.user)
    page = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    header = re.search(r'<div class="who">(.*?)<form', page, re.S).group(1)
    assert pharmacy.name in header and "王芳" in header
    assert "provider" not in header
    unnamed = ProviderStaffFactory(provider=pharmacy, user__username="staff-7")
    client.force_login(unnamed.user)
    page = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    header = re.search(r'<div class="who">(.*?)<form', page, re.S).group(1)
    assert pharmacy.name in header and "staff-7" in header


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(reverse("portal:applications"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))


def test_agency_staff_logged_in_elsewhere_see_no_portal_data(client, case_worker):
    client.force_login(case_worker)
    assert client.get(reverse("portal:home")).status_code == 403


def test_application_from_draft_to_active_agreement_through_the_portal(
    portal, pharmacy, pharmacy_user, case_worker, auditor, django_capture_on_commit_callbacks
):
    """Ziyang 第十四条 (conditions), 第十九条 (reviewer ≠ approver): the pharmacy files in the portal."""
    response = portal.post(
        reverse("portal:application_create"),
        {
            "name": "康宁大药房",
            "district": "市中区",
            "outpatient_pooling": "on",
            "contact_email": "apply@pharmacy.example",
        },
    )
    application = Application.objects.get(provider=pharmacy)
    assert response["Location"] == reverse("portal:application", args=[application.pk])
    portal.post(
        reverse("portal:document_upload", args=[application.pk]),
        {"kind": "drug_trading_licence", "file": pdf("药品经营许可证.pdf")},
    )
    portal.post(
        reverse("portal:document_upload", args=[application.pk]),
        {"kind": "condition_evidence", "file": png("追溯.png")},
    )
    evidence = application.documents.get(kind="condition_evidence")
    for condition in ALL_CONDITIONS:
        portal.post(
            reverse("portal:condition_answer", args=[application.pk, condition]),
            {
                f"{condition}-met": "yes",
                f"{condition}-evidence_text": "已具备，见附件",
                f"{condition}-evidence_document": evidence.pk,
            },
        )
    page = portal.get(reverse("portal:application", args=[application.pk]))
    assert page.status_code == 200 and "药品经营许可证.pdf" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post(reverse("portal:application_submit", args=[application.pk]))
    application.refresh_from_db()
    assert application.status == "submitted", _messages(response)
    assert application.conditions.filter(met=True, evidence_document=evidence).count() == 4

    review(application, case_worker)
    services.application_approve(application=application, actor=auditor)
    agreement = sign(application, case_worker)
    services.agreement_activate(agreement=agreement, actor=case_worker)

    page = portal.get(reverse("portal:agreements")).content.decode()
    assert agreement.period_to.isoformat() in page
    assert '状态：<span class="status' in page  # the full-width colon after the label
    home = portal.get(reverse("portal:home"))
    assert home.context["agreement"] == agreement
    notifications = portal.get(reverse("portal:notifications"))
    assert len(notifications.context["notifications"]) == 5
    assert home.context["unread_count"] == 5
    portal.post(reverse("portal:notifications"))
    assert not Notification.objects.for_provider(pharmacy).filter(read_at__isnull=True).exists()
    assert mail.outbox and "staff@pharmacy.example" in mail.outbox[0].to


def test_portal_refuses_submission_without_every_admission_condition(portal, pharmacy_user):
    """Ziyang 第十四条, Jinan (十): the refusal names the missing condition; nothing changes."""
    application = filled_pharmacy_application(pharmacy_user, skip=("drug_traceability",))
    response = portal.post(reverse("portal:application_submit", args=[application.pk]), follow=True)
    application.refresh_from_db()
    assert application.status == "draft"
    assert not application.transitions.filter(action="submit").exists()
    text = " ".join(_messages(response))
    assert "drugs electronically traceable" in text or "药品" in text


def test_a_provider_user_never_sees_another_providers_application(portal, other_provider_user):
    theirs = filled_pharmacy_application(other_provider_user)
    document = theirs.documents.first()
    pk = theirs.pk
    assert portal.get(reverse("portal:application", args=[pk])).status_code == 404
    assert portal.get(reverse("portal:application_edit", args=[pk])).status_code == 404
    assert portal.get(reverse("portal:document", args=[pk, document.pk])).status_code == 404
    assert portal.post(reverse("portal:application_submit", args=[pk])).status_code == 404
    assert portal.post(reverse("portal:document_delete", args=[pk, document.pk])).status_code == 404
    assert (
        portal.post(
            reverse("portal:condition_answer", args=[pk, "drug_traceability"]),
            {"drug_traceability-met": "no"},
        ).status_code
        == 404
    )
    assert (
        portal.post(
            reverse("portal:document_upload", args=[pk]), {"kind": "other", "file": pdf()}
        ).status_code
        == 404
    )
    assert theirs.pk not in [
        a.pk for a in portal.get(reverse("portal:applications")).context["applications"]
    ]
    theirs.refresh_from_db()
    assert theirs.status == "draft" and theirs.documents.count() == 1


def test_a_document_is_served_only_to_its_provider_as_an_attachment(portal, pharmacy_user):
    application = filled_pharmacy_application(pharmacy_user)
    document = application.documents.get()
    response = portal.get(reverse("portal:document", args=[application.pk, document.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("licence.pdf", b"MZ\x90\x00 not a pdf at all", "document_type"),
        ("licence.exe", PDF, "document_type"),
        ("licence.png", PDF, "document_type"),
        ("empty.pdf", b"", "document_empty"),
    ],
)
def test_documents_are_checked_by_content_and_extension(pharmacy_user, name, content, code):
    application = services.application_create(actor=pharmacy_user, name="康宁大药房")
    upload = SimpleUploadedFile(name, content, content_type="application/pdf")
    with pytest.raises(DomainError) as refused:
        services.application_add_document(
            application=application, actor=pharmacy_user, kind="other", upload=upload
        )
    assert refused.value.code == code
    assert not ApplicationDocument.objects.exists()


def test_a_document_over_the_size_limit_is_refused(settings, portal, pharmacy_user):
    settings.PHARMACIES_DOCUMENT_MAX_BYTES = 1024
    application = services.application_create(actor=pharmacy_user, name="康宁大药房")
    big = SimpleUploadedFile("big.pdf", PDF + b"0" * 2048, content_type="application/pdf")
    response = portal.post(
        reverse("portal:document_upload", args=[application.pk]),
        {"kind": "other", "file": big},
        follow=True,
    )
    assert not ApplicationDocument.objects.exists()
    assert response.status_code == 200 and _messages(response)


def test_documents_cannot_change_after_submission(pharmacy_user):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    with pytest.raises(DomainError) as refused:
        services.application_add_document(
            application=application, actor=pharmacy_user, kind="other", upload=pdf()
        )
    assert refused.value.code == "invalid_state"
    with pytest.raises(DomainError):
        services.application_remove_document(
            document=application.documents.get(), actor=pharmacy_user
        )
    assert application.documents.count() == 1


def test_csrf_is_enforced_in_the_portal(pharmacy_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(pharmacy_user)
    application = filled_pharmacy_application(pharmacy_user)
    assert (
        client.post(reverse("portal:application_submit", args=[application.pk])).status_code == 403
    )
    page = client.get(reverse("portal:application", args=[application.pk]))
    token = page.context["csrf_token"]
    response = client.post(
        reverse("portal:application_submit", args=[application.pk]),
        {"csrfmiddlewaretoken": str(token)},
    )
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == "submitted"


def test_staff_of_one_provider_share_its_applications(portal, pharmacy, pharmacy_user):
    colleague = ProviderStaffFactory(provider=pharmacy).user
    application = filled_pharmacy_application(colleague)
    assert portal.get(reverse("portal:application", args=[application.pk])).status_code == 200


def test_every_portal_page_renders_for_the_provider(client, portal, pharmacy_user):
    application = filled_pharmacy_application(pharmacy_user)
    assert client.get(reverse("portal:login")).status_code == 200
    for name, args in [
        ("portal:home", []),
        ("portal:applications", []),
        ("portal:application_create", []),
        ("portal:application", [application.pk]),
        ("portal:application_edit", [application.pk]),
        ("portal:agreements", []),
        ("portal:notifications", []),
        ("portal:token", []),
    ]:
        response = portal.get(reverse(name, args=args))
        assert response.status_code == 200, name
        assert b"portal/portal.css" in response.content  # served locally: no CDN


def test_editing_a_draft_through_the_portal(portal, pharmacy_user):
    application = services.application_create(actor=pharmacy_user, name="康宁大药房")
    portal.post(
        reverse("portal:application_edit", args=[application.pk]),
        {"name": "康宁大药房（东店）", "district": "东区", "outpatient_pooling": "on"},
    )
    application.refresh_from_db()
    assert (application.name, application.district, application.outpatient_pooling) == (
        "康宁大药房（东店）",
        "东区",
        True,
    )
    # Joining pooling brings the four admission conditions to answer (Ziyang 第十四条).
    assert application.conditions.count() == len(ALL_CONDITIONS)


def test_other_apps_add_their_portal_pages_to_the_navigation(monkeypatch, portal):
    from pharmacies import portal as portal_module

    monkeypatch.setattr(portal_module, "NAVIGATION", list(portal_module.NAVIGATION))
    before = [name for name, _label in portal_module.NAVIGATION]
    assert before[:3] == ["portal:home", "portal:applications", "portal:agreements"]
    portal_module.add_navigation("portal:agreements", "duplicate")  # already there: unchanged
    portal_module.add_navigation("portal:token", "again")
    assert [name for name, _label in portal_module.NAVIGATION] == before
    portal_module.add_navigation("portal:home", "x", before="nowhere")
    monkeypatch.setattr(portal_module, "NAVIGATION", [*portal_module.NAVIGATION[:2]])
    portal_module.add_navigation("portal:token", "API", before="portal:applications")
    assert [name for name, _label in portal_module.NAVIGATION] == [
        "portal:home",
        "portal:token",
        "portal:applications",
    ]
    page = portal.get(reverse("portal:home")).content.decode()
    assert page.index(reverse("portal:token")) < page.index(reverse("portal:applications"))
