"""The admin of chronic and special diseases: a case worker proposes a registration through
the add form, another approves it with the action; the proposer cannot; the member page lists
it; the disease list imports through the admin with the commands' parser."""

from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from claims.models import ChronicRegistration, Disease
from core.roles import Role
from tests.claims.conftest import make_member
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _region(settings):
    settings.REGION = "jinan"


def case_worker():
    user = UserFactory(roles=[Role.CASE_WORKER])
    user.is_staff = True
    user.save()
    return user


def test_propose_in_the_admin_then_another_case_worker_approves(client):
    proposer, approver = case_worker(), case_worker()
    disease = Disease.objects.create(region="jinan", code="S1", name="恶性肿瘤", group="special")
    member = make_member()
    client.force_login(proposer)
    response = client.post("/admin/claims/chronicregistration/add/", {
        "member": member.pk, "disease": disease.pk, "valid_from": "2023-01-01", "valid_to": "",
        "certified_by": "", "designated_provider": "",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    registration = ChronicRegistration.objects.get()
    assert (registration.status, registration.proposed_by) == ("proposed", proposer)
    client.post("/admin/claims/chronicregistration/", {"action": "approve", ACTION_CHECKBOX_NAME: [registration.pk]})
    registration.refresh_from_db()
    assert registration.status == "proposed"  # the proposer may not approve
    client.force_login(approver)
    client.post("/admin/claims/chronicregistration/", {"action": "approve", ACTION_CHECKBOX_NAME: [registration.pk]})
    registration.refresh_from_db()
    assert (registration.status, registration.approved_by) == ("approved", approver)
    page = client.get(f"/admin/members/member/{member.pk}/change/")
    assert page.status_code == 200 and "恶性肿瘤" in page.content.decode()


def test_an_overlapping_proposal_is_refused_on_the_form_and_writes_nothing(client):
    disease = Disease.objects.create(region="jinan", code="S1", name="恶性肿瘤", group="special")
    member = make_member()
    ChronicRegistration.objects.create(member=member, disease=disease, valid_from=date(2023, 1, 1), status="approved")
    client.force_login(case_worker())
    response = client.post("/admin/claims/chronicregistration/add/", {
        "member": member.pk, "disease": disease.pk, "valid_from": "2023-06-01", "valid_to": "",
        "certified_by": "", "designated_provider": "",
    })
    assert response.status_code == 200
    assert "registration_overlaps" in response.content.decode()
    assert ChronicRegistration.objects.count() == 1


def test_the_disease_list_has_an_import_page(client):
    client.force_login(case_worker())
    assert client.get("/admin/claims/disease/import/").status_code == 200
    assert client.get("/admin/claims/chronicregistration/import/").status_code == 200
