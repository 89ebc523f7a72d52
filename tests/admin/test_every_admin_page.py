"""Every registered admin page opens (changelist, add, change, history) with demo-like data."""

import pytest
from django.contrib import admin
from django.urls import reverse

from core.audit import audit
from members.models import Episode, ReferenceValue, Registration
from members.services import family_link_create
from tests.factories import CatalogItemFactory, MemberFactory, ProviderStaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def data():
    superuser = UserFactory(is_superuser=True, is_staff=True)
    superuser.save()  # the factory saves the password only with roles
    first, second = MemberFactory(), MemberFactory()
    family_link_create(member=first, relative=second, relation="spouse", user=superuser)
    Registration.objects.create(member=first, place="in_province", valid_from="2024-01-01")
    Episode.objects.create(member=first, kind="inpatient_stay", start_date="2024-02-01", end_date="2024-02-09")
    ReferenceValue.objects.create(kind="average_pension", year=2023, value="3000.00")
    ProviderStaffFactory()
    CatalogItemFactory()
    audit(actor=superuser, action="member.read", target=first)
    return superuser


# The base data the fixture creates; pages of later models open here too (their own tests
# fill them), but only their changelist and add page are checked when they are empty.
FIXTURE_MODELS = {
    "core.AuditEvent", "members.Member", "members.Enrollment", "members.FamilyLink",
    "members.Registration", "members.Episode", "members.ReferenceValue",
    "pharmacies.Provider", "pharmacies.ProviderStaff", "claims.CatalogItem",
}


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.mark.parametrize("model", [model for model, _ in _registered()], ids=lambda m: m._meta.label)
def test_every_admin_page_opens_for_a_superuser(client, data, model):
    client.force_login(data)
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"

    def get(url):
        response = client.get(url)
        # Issue 11: every page carries the Content-Security-Policy (django-csp; tests/core/test_csp.py).
        assert "script-src 'self'" in response.get("Content-Security-Policy", ""), url
        return response

    assert get(reverse(f"{prefix}_changelist")).status_code == 200
    model_admin = admin.site._registry[model]
    obj = model._default_manager.order_by("pk").first()
    if model._meta.label in FIXTURE_MODELS:
        assert obj is not None, "the fixture should create one of each of the base-data models"
    if obj is not None:
        assert get(reverse(f"{prefix}_change", args=[obj.pk])).status_code == 200
        assert get(reverse(f"{prefix}_history", args=[obj.pk])).status_code == 200
    add_status = get(reverse(f"{prefix}_add")).status_code
    assert add_status == (200 if model_admin.has_add_permission(_request_for(data)) else 403)


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request
