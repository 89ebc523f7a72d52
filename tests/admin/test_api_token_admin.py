"""The admin's API tokens (系统管理 only): issue shows the key once on a result page (not in a
message, not in the admin's history), rotate and revoke are actions with a reason, nothing
edits a token."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.models import ApiToken, AuditEvent
from core.roles import Role
from core.tokens import key_digest
from tests.factories import ProviderStaffFactory, UserFactory, api_key

pytestmark = pytest.mark.django_db

LIST = "admin:core_apitoken_changelist"
ADD = "admin:core_apitoken_add"


@pytest.fixture
def sysadmin_client(client):
    client.force_login(UserFactory(roles=[Role.ADMINISTRATOR], is_staff=True))
    return client


@pytest.fixture
def provider_user():
    return ProviderStaffFactory().user


def _stored() -> str:
    return (str(list(ApiToken.objects.values())) + str(list(AuditEvent.objects.values()))
            + str(list(LogEntry.objects.values())))


def _status(key) -> int:
    return Client().get("/api/v1/providers/me", HTTP_AUTHORIZATION=f"Token {key}").status_code


def test_issue_shows_the_key_once_without_message_or_history(sysadmin_client, provider_user):
    form = sysadmin_client.get(reverse(ADD))
    assert form.status_code == 200
    response = sysadmin_client.post(reverse(ADD), {"user": provider_user.pk})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    (token, key), = response.context["issued"]
    assert key in response.content.decode() and token.digest == key_digest(key)
    assert list(get_messages(response.wsgi_request)) == []
    assert not LogEntry.objects.exists()
    assert key not in _stored()
    assert _status(key) == 200
    listing = sysadmin_client.get(reverse(LIST)).content.decode()
    assert key not in listing and f"{key[:8]}…" in listing and provider_user.username in listing and "有效" in listing
    detail = sysadmin_client.get(reverse("admin:core_apitoken_change", args=[token.pk])).content.decode()
    assert key not in detail and token.digest not in detail and 'name="_save"' not in detail


def test_issue_refuses_a_user_who_is_not_provider_staff(sysadmin_client):
    response = sysadmin_client.post(reverse(ADD), {"user": UserFactory().pk})
    assert response.status_code == 200 and response.context["form"].errors["user"]
    assert not ApiToken.objects.exists()


def test_rotate_action_shows_the_new_keys_once(sysadmin_client, provider_user):
    old_key = api_key(provider_user)
    old = ApiToken.objects.get()
    data = {"action": "rotate_tokens", "_selected_action": [old.pk]}
    confirm = sysadmin_client.post(reverse(LIST), data)
    assert confirm.status_code == 200 and "form" in confirm.context
    response = sysadmin_client.post(reverse(LIST), {**data, "apply": "1", "reason": "年度更换"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    (new, new_key), = response.context["issued"]
    assert new_key in response.content.decode()
    old.refresh_from_db()
    assert old.replaced_by == new and _status(old_key) == 200 and _status(new_key) == 200
    assert new_key not in _stored() and not LogEntry.objects.exists()
    assert AuditEvent.objects.get(action="api_token_rotate").details["reason"] == "年度更换"


def test_revoke_action_needs_a_reason(sysadmin_client, provider_user):
    key = api_key(provider_user)
    token = ApiToken.objects.get()
    data = {"action": "revoke_tokens", "_selected_action": [token.pk], "apply": "1"}
    missing = sysadmin_client.post(reverse(LIST), {**data, "reason": ""})
    assert missing.status_code == 200 and missing.context["form"].errors["reason"]
    token.refresh_from_db()
    assert token.revoked_at is None
    done = sysadmin_client.post(reverse(LIST), {**data, "reason": "人员离职"}, follow=True)
    assert "1 个 API 令牌已撤销" in done.content.decode()
    token.refresh_from_db()
    assert token.revoke_reason == "人员离职" and _status(key) == 401
    # A revoked token is refused by a second revocation, and the refusal names it.
    again = sysadmin_client.post(reverse(LIST), {**data, "reason": "again"}, follow=True)
    assert f"{token.prefix}…" in again.content.decode()
    assert AuditEvent.objects.filter(action="api_token_revoke").count() == 1


@pytest.mark.parametrize("role", [Role.CASE_WORKER, Role.AUDITOR, Role.FINANCE])
def test_only_the_system_administrator_sees_tokens(client, role, provider_user):
    key = api_key(provider_user)
    client.force_login(UserFactory(roles=[role], is_staff=True))
    assert client.get(reverse(LIST)).status_code == 403
    assert client.get(reverse(ADD)).status_code == 403
    token = ApiToken.objects.get()
    response = client.post(reverse(LIST), {"action": "revoke_tokens", "_selected_action": [token.pk],
                                           "apply": "1", "reason": "x"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None and _status(key) == 200


def test_expired_tokens_show_as_expired(sysadmin_client, provider_user):
    api_key(provider_user, expires_at=timezone.now())
    assert "已过期" in sysadmin_client.get(reverse(LIST)).content.decode()
