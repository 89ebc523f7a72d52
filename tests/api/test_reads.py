"""API reads for members and providers: token auth, one error shape, audited reads, schema."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from core.idnumber import mask_id_number
from core.models import AuditEvent
from core.roles import Role
from tests.factories import MemberFactory, ProviderFactory, ProviderStaffFactory, UserFactory, api_key

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status, code=None):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert isinstance(body["details"], dict) and body["message"]
    if code:
        assert body["code"] == code
    return body


@pytest.fixture
def provider_client():
    staff = ProviderStaffFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(staff.user)}")
    client.staff = staff
    return client


@pytest.fixture
def agency_client():
    user = UserFactory(roles=[Role.CASE_WORKER])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    client.user = user
    return client


def test_a_provider_reads_its_own_record_with_its_token(provider_client):
    provider = provider_client.staff.provider
    response = provider_client.get("/api/v1/providers/me")
    assert response.status_code == 200
    assert response.json()["code"] == provider.code
    event = AuditEvent.objects.get(action="provider.read")
    assert (event.actor, event.target_id) == (provider_client.staff.user, str(provider.pk))


def test_a_provider_cannot_read_another_providers_record(provider_client):
    other = ProviderFactory()
    body = assert_error_shape(provider_client.get(f"/api/v1/providers/{other.code}"), 403, "permission_denied")
    assert other.name not in str(body)


def test_agency_staff_read_any_provider_by_code(agency_client):
    internet = ProviderFactory(level="internet_hospital", parent=ProviderFactory())
    response = agency_client.get(f"/api/v1/providers/{internet.code.lower()}")
    assert response.status_code == 200
    assert response.json()["parent_code"] == internet.parent.code
    assert AuditEvent.objects.filter(action="provider.read", actor=agency_client.user).count() == 1


def test_an_unknown_provider_code_is_not_found_and_the_attempt_audited(agency_client):
    body = assert_error_shape(agency_client.get("/api/v1/providers/H99999999999"), 404, "not_found")
    assert body["details"] == {"code": "H99999999999"}
    assert AuditEvent.objects.get(action="provider.read").target_label == "H99999999999"


def test_agency_staff_have_no_provider_of_their_own(agency_client):
    assert_error_shape(agency_client.get("/api/v1/providers/me"), 403, "permission_denied")


def test_no_token_and_a_wrong_token_are_refused_in_the_error_shape():
    client = APIClient()
    assert_error_shape(client.get("/api/v1/providers/me"), 401, "not_authenticated")
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error_shape(client.get("/api/v1/providers/me"), 401, "authentication_failed")


def test_a_provider_reads_a_member_and_the_read_is_audited(provider_client):
    member = MemberFactory(name="王建国")
    response = provider_client.get(f"/api/v1/members/{member.id_number}")
    assert response.status_code == 200
    body = response.json()
    assert (body["id_number"], body["name"], body["enrollment"]["scheme"]) == (member.id_number, "王建国", "combined")
    event = AuditEvent.objects.get(action="member.read")
    assert (event.actor, event.target_id) == (provider_client.staff.user, str(member.pk))
    assert member.id_number not in f"{event.target_label} {event.details}"


def test_an_unknown_member_is_not_found_with_a_masked_number(provider_client):
    missing = "11010519491231002X"
    body = assert_error_shape(provider_client.get(f"/api/v1/members/{missing}"), 404, "not_found")
    assert body["details"] == {"id_number": mask_id_number(missing)}
    assert missing not in str(body)
    assert AuditEvent.objects.get(action="member.read").target_label == mask_id_number(missing)


def test_a_user_without_a_role_is_refused(db):
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert_error_shape(client.get("/api/v1/members/11010519491231002X"), 403, "permission_denied")
    assert not AuditEvent.objects.exists()


def test_an_unknown_api_address_and_a_wrong_method_answer_in_the_error_shape(provider_client):
    assert_error_shape(provider_client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error_shape(provider_client.post("/api/v1/providers/me", {}), 405, "method_not_allowed")


def test_error_messages_are_chinese_by_default(provider_client):
    body = assert_error_shape(provider_client.get("/api/v1/members/11010519491231002X"), 404)
    assert body["message"] == "未找到。"


def test_the_openapi_schema_describes_the_reads(client):
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/members/{id_number}", "/api/v1/providers/me", "/api/v1/providers/{code}"} <= set(schema["paths"])
    not_found = schema["paths"]["/api/v1/providers/{code}"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOutput")


def test_the_api_docs_page_renders(client):
    response = client.get(reverse("api-docs"))
    assert response.status_code == 200
    assert "swagger" in response.content.decode().lower()
