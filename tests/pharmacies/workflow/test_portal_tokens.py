"""The portal's API token page: the provider's own tokens only, a new key shown once, rotation
with an overlap, revocation with a reason, a warning when a token expires within 30 days."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.models import ApiToken, AuditEvent
from core.tokens import key_digest
from tests.factories import ProviderStaffFactory, api_key

pytestmark = pytest.mark.django_db

ME = "/api/v1/providers/me"


@pytest.fixture
def portal(client, pharmacy_user):
    client.force_login(pharmacy_user)
    return client


def _status(key) -> int:
    return Client().get(ME, HTTP_AUTHORIZATION=f"Token {key}").status_code


def _shown_key(response) -> str:
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = response.context["new_key"]
    assert key and key in response.content.decode()
    return key


def test_issue_shows_the_key_once_and_stores_only_its_digest(portal, pharmacy_user):
    page = portal.get(reverse("portal:token"))
    assert page.status_code == 200 and "尚未生成令牌" in page.content.decode()
    key = _shown_key(portal.post(reverse("portal:token"), {"operation": "issue"}))
    token = ApiToken.objects.get(user=pharmacy_user)
    assert token.digest == key_digest(key) and _status(key) == 200
    again = portal.get(reverse("portal:token")).content.decode()
    assert key not in again and f"{key[:8]}…" in again and "有效" in again
    assert key not in str(list(AuditEvent.objects.values())) + str(list(ApiToken.objects.values()))
    assert AuditEvent.objects.get(action="api_token_create").actor == pharmacy_user


def test_rotate_shows_the_new_key_and_the_old_one_works_for_the_overlap(portal, pharmacy_user, settings):
    settings.API_TOKEN_ROTATION_OVERLAP_HOURS = 24
    old_key = api_key(pharmacy_user)
    old = ApiToken.objects.get(user=pharmacy_user)
    new_key = _shown_key(portal.post(reverse("portal:token"), {"operation": "rotate", "token": old.pk,
                                                               "reason": "系统升级"}))
    old.refresh_from_db()
    assert old.replaced_by.digest == key_digest(new_key)
    assert timezone.now() + timedelta(hours=23) < old.expires_at <= timezone.now() + timedelta(hours=24)
    assert _status(old_key) == 200 and _status(new_key) == 200
    # Within the overlap the old token shows as expiring, with the days left.
    assert "即将到期" in portal.get(reverse("portal:token")).content.decode()


def test_revoke_needs_a_reason_and_stops_the_token(portal, pharmacy_user):
    key = api_key(pharmacy_user)
    token = ApiToken.objects.get(user=pharmacy_user)
    refused = portal.post(reverse("portal:token"), {"operation": "revoke", "token": token.pk, "reason": ""}, follow=True)
    assert "请填写撤销令牌的原因" in refused.content.decode()
    assert _status(key) == 200
    done = portal.post(reverse("portal:token"), {"operation": "revoke", "token": token.pk, "reason": "密钥泄露"},
                       follow=True)
    assert "不再可用" in done.content.decode() and "已撤销" in done.content.decode()
    assert _status(key) == 401
    assert AuditEvent.objects.get(action="api_token_revoke").details["reason"] == "密钥泄露"


def test_a_colleagues_token_is_listed_and_managed_another_providers_is_not(portal, pharmacy, other_provider_user):
    colleague = ProviderStaffFactory(provider=pharmacy).user
    api_key(colleague)
    foreign_key = api_key(other_provider_user)
    foreign = ApiToken.objects.get(user=other_provider_user)
    page = portal.get(reverse("portal:token")).content.decode()
    assert colleague.username in page and foreign.prefix not in page
    for operation in ("rotate", "revoke"):
        response = portal.post(reverse("portal:token"), {"operation": operation, "token": foreign.pk, "reason": "x"})
        assert response.status_code == 404
    assert portal.post(reverse("portal:token"), {"operation": "revoke", "token": "abc"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None and foreign.replaced_by is None and _status(foreign_key) == 200
    assert ApiToken.objects.count() == 2


def test_a_token_expiring_within_30_days_is_flagged(portal, pharmacy_user):
    api_key(pharmacy_user, expires_at=timezone.now() + timedelta(days=12, hours=1))
    page = portal.get(reverse("portal:token")).content.decode()
    assert "12 天后到期" in page and "即将到期" in page


def test_agency_staff_have_no_token_page(client, case_worker):
    client.force_login(case_worker)
    assert client.get(reverse("portal:token")).status_code == 403
    assert client.post(reverse("portal:token"), {"operation": "issue"}).status_code == 403
    assert not ApiToken.objects.exists()
