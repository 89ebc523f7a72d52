"""A suspended or terminated provider keeps its own statements, reconciliations, flags and
appeals (and its registry record, agreement, notifications and API token); every other read is
refused, in the API (`provider_not_active`) and in the portal (403)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from pharmacies.models import Provider
from tests.factories import MemberFactory, ProviderFactory, ProviderStaffFactory

pytestmark = pytest.mark.django_db

INACTIVE = [Provider.Status.SUSPENDED, Provider.Status.TERMINATED]


def _api_for(status):
    staff = ProviderStaffFactory(provider=ProviderFactory(status=status))
    api = APIClient()
    api.force_authenticate(staff.user)
    return api


REFUSED_API = [
    ("get", "/api/v1/members/{id}", None),
    ("get", "/api/v1/members/{id}/account", None),
    ("get", "/api/v1/members/{id}/benefits", None),
    ("post", "/api/v1/settlements/1/reverse", {"reason": "撤销"}),
]


@pytest.mark.parametrize("status", INACTIVE)
@pytest.mark.parametrize(("method", "path", "body"), REFUSED_API, ids=[p for _m, p, _b in REFUSED_API])
def test_an_inactive_provider_reads_no_members_benefits_or_ledgers(status, method, path, body):
    member = MemberFactory()
    api = _api_for(status)
    response = getattr(api, method)(path.format(id=member.id_number), body, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "provider_not_active"
    assert response.json()["details"]["status"] == status


@pytest.mark.parametrize("status", INACTIVE)
def test_an_inactive_provider_still_reads_its_record_and_reconciles(status):
    api = _api_for(status)
    assert api.get("/api/v1/providers/me").status_code == 200
    response = api.post("/api/v1/reconciliations", {"period_from": "2026-03-01", "period_to": "2026-03-31",
                                                   "totals": {}}, format="json")
    assert response.status_code != 403
    # Settlement reaches the service, which refuses it with its own code (a repeat of an
    # earlier settlement still answers with the first response).
    response = api.post("/api/v1/settlements/preview", {}, format="json")
    assert response.status_code != 403 or response.json()["code"] != "provider_not_active"


def test_an_active_provider_is_not_refused():
    member = MemberFactory()
    api = _api_for(Provider.Status.ACTIVE)
    assert api.get(f"/api/v1/members/{member.id_number}").status_code == 200


ALLOWED_PAGES = [
    "portal:home", "portal:agreements", "portal:notifications", "portal:token",
    "portal_claims:statements", "portal_claims:year_ends", "portal_claims:reconciliations", "portal:supervision_flags",
]
REFUSED_PAGES = [
    "portal:applications", "portal:application_create", "portal_claims:settlements",
]


@pytest.mark.parametrize("status", INACTIVE)
@pytest.mark.parametrize("name", ALLOWED_PAGES)
def test_an_inactive_provider_keeps_its_statements_flags_and_appeals_in_the_portal(client, status, name):
    staff = ProviderStaffFactory(provider=ProviderFactory(status=status))
    client.force_login(staff.user)
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("status", INACTIVE)
@pytest.mark.parametrize("name", REFUSED_PAGES)
def test_an_inactive_provider_is_refused_every_other_portal_page(client, status, name):
    staff = ProviderStaffFactory(provider=ProviderFactory(status=status))
    client.force_login(staff.user)
    response = client.get(reverse(name))
    assert response.status_code == 403
    assert "协议中止或解除期间不可用" in response.content.decode()
    response = client.post(reverse("portal:application_create"), {"name": "x"})
    assert response.status_code == 403
    assert not staff.provider.applications.exists()


@pytest.mark.parametrize("name", REFUSED_PAGES)
def test_an_active_provider_sees_every_page(client, name):
    staff = ProviderStaffFactory()
    client.force_login(staff.user)
    assert client.get(reverse(name)).status_code == 200
