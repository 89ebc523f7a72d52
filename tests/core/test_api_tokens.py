"""API tokens (core.tokens): only a digest is stored, a lifetime, rotation with an overlap,
revocation, 401 in the API's error shape, "last used" written at most once a minute."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.errors import DomainError, Forbidden
from core.models import ApiToken, AuditEvent
from core.roles import Role
from core.tokens import (
    api_token_issue,
    api_token_revoke,
    api_token_rotate,
    api_tokens_revoke,
    key_digest,
)
from tests.factories import ProviderStaffFactory, UserFactory, api_key

pytestmark = pytest.mark.django_db

ME = "/api/v1/providers/me"


def _get(key, path=ME):
    return Client().get(path, HTTP_AUTHORIZATION=f"Token {key}")


def _everything_stored() -> str:
    return str(list(ApiToken.objects.values())) + str(list(AuditEvent.objects.values()))


@pytest.fixture
def provider_user():
    return ProviderStaffFactory().user


@pytest.fixture
def sysadmin():
    return UserFactory(roles=[Role.ADMINISTRATOR])


def test_an_issued_key_is_never_stored_only_its_digest_and_prefix(provider_user, sysadmin, settings):
    settings.API_TOKEN_LIFETIME_DAYS = 90
    before = timezone.now()
    token, key = api_token_issue(user=provider_user, actor=sysadmin)
    assert len(key) == 40 and token.prefix == key[:8] and token.digest == key_digest(key) != key
    assert key not in _everything_stored()
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{ApiToken._meta.db_table}"')
        assert key not in str(cursor.fetchall())
    assert before + timedelta(days=90) <= token.expires_at <= timezone.now() + timedelta(days=90)
    assert token.created_by == sysadmin
    event = AuditEvent.objects.get(action="api_token_create")
    assert (event.actor, event.details["token"], event.target_label) == (sysadmin, key[:8], provider_user.username)
    assert _get(key).status_code == 200


def test_an_unknown_expired_or_revoked_token_is_401_in_the_error_shape(provider_user):
    unknown = _get("0" * 40)
    assert unknown.status_code == 401 and unknown.json()["code"] == "authentication_failed"
    expired = _get(api_key(provider_user, expires_at=timezone.now() - timedelta(seconds=1)))
    assert expired.status_code == 401
    assert expired.json() == {"code": "token_expired", "message": "此 API 令牌已过期，请在定点机构门户签发新令牌。",
                              "details": {}}
    revoked = _get(api_key(provider_user, revoked_at=timezone.now()))
    assert revoked.status_code == 401 and revoked.json()["code"] == "token_revoked"
    assert "撤销" in revoked.json()["message"]
    assert revoked["WWW-Authenticate"] == "Token"


def test_the_national_interface_gateway_authenticates_with_the_same_tokens(provider_user):
    body = {"infno": "9001", "msgid": "X", "fixmedins_code": provider_user.provider_staff.provider.code, "input": {}}
    ok = Client().post("/api/nhsa/", body, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Token {api_key(provider_user)}")
    assert ok.status_code != 401
    expired = Client().post("/api/nhsa/", body, content_type="application/json",
                            HTTP_AUTHORIZATION=f"Token {api_key(provider_user, expires_at=timezone.now())}")
    assert expired.status_code == 401


def test_rotation_lets_the_old_token_work_for_the_overlap_then_it_expires(provider_user, settings):
    settings.API_TOKEN_ROTATION_OVERLAP_HOURS = 24
    old, old_key = api_token_issue(user=provider_user, actor=provider_user)
    now = timezone.now()
    new, new_key = api_token_rotate(token=old, actor=provider_user, reason="yearly change", now=now)
    old.refresh_from_db()
    assert old.expires_at == now + timedelta(hours=24) and old.replaced_by == new
    assert new.expires_at > now + timedelta(days=300)
    assert _get(old_key).status_code == 200 and _get(new_key).status_code == 200
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _get(old_key).json()["code"] == "token_expired"
    assert _get(new_key).status_code == 200
    event = AuditEvent.objects.get(action="api_token_rotate")
    assert (event.details["previous"], event.details["token"], event.details["reason"]) == (
        old_key[:8], new_key[:8], "yearly change")
    assert old_key not in _everything_stored() and new_key not in _everything_stored()
    # A token already replaced and expired is not rotated again; nothing is written.
    with pytest.raises(DomainError) as refused:
        api_token_rotate(token=old, actor=provider_user)
    assert refused.value.code == "token_not_active" and refused.value.details["token"] == old_key[:8]
    assert ApiToken.objects.count() == 2


def test_rotation_never_extends_a_token_about_to_expire(provider_user):
    soon = timezone.now() + timedelta(hours=1)
    old, _key = api_token_issue(user=provider_user, actor=provider_user)
    ApiToken.objects.filter(pk=old.pk).update(expires_at=soon)
    api_token_rotate(token=old, actor=provider_user)
    old.refresh_from_db()
    assert old.expires_at == soon


def test_revocation_stops_the_token_at_once_and_needs_a_reason(provider_user, sysadmin):
    token, key = api_token_issue(user=provider_user, actor=provider_user)
    with pytest.raises(DomainError) as refused:
        api_token_revoke(token=token, actor=sysadmin, reason="  ")
    assert refused.value.details == {"reason": "required"}
    token.refresh_from_db()
    assert token.revoked_at is None and _get(key).status_code == 200
    api_token_revoke(token=token, actor=sysadmin, reason="leaked in a ticket")
    token.refresh_from_db()
    assert (token.revoked_by, token.revoke_reason) == (sysadmin, "leaked in a ticket")
    assert _get(key).json()["code"] == "token_revoked"
    event = AuditEvent.objects.get(action="api_token_revoke")
    assert (event.actor, event.details["token"], event.details["reason"]) == (sysadmin, key[:8], "leaked in a ticket")
    with pytest.raises(DomainError):
        api_token_revoke(token=token, actor=sysadmin, reason="again")


def test_who_may_manage_a_token(provider_user, sysadmin):
    colleague = ProviderStaffFactory(provider=provider_user.provider_staff.provider).user
    stranger = ProviderStaffFactory().user
    token, _key = api_token_issue(user=provider_user, actor=provider_user)
    for refused in (stranger, UserFactory(roles=[Role.CASE_WORKER]), UserFactory(roles=[Role.AUDITOR])):
        with pytest.raises(Forbidden):
            api_token_revoke(token=token, actor=refused, reason="x")
        with pytest.raises(Forbidden):
            api_token_issue(user=provider_user, actor=refused)
    assert ApiToken.objects.count() == 1
    api_token_rotate(token=token, actor=colleague)  # the same provider's staff
    api_token_issue(user=provider_user, actor=sysadmin)
    with pytest.raises(Forbidden) as refused:
        api_token_issue(user=UserFactory(), actor=sysadmin)  # not a provider user
    assert refused.value.code == "not_provider_staff"


def test_revoking_all_of_a_users_tokens(provider_user, sysadmin):
    keys = [api_key(provider_user), api_key(provider_user)]
    assert api_tokens_revoke(user=provider_user, actor=sysadmin) == 2
    assert all(_get(key).json()["code"] == "token_revoked" for key in keys)
    assert set(ApiToken.objects.values_list("revoked_by", flat=True)) == {sysadmin.pk}


def test_last_used_is_written_at_most_once_per_interval(provider_user, settings, django_assert_num_queries):
    settings.API_TOKEN_LAST_USED_INTERVAL_SECONDS = 60
    key = api_key(provider_user)
    assert _get(key).status_code == 200
    token = ApiToken.objects.get(digest=key_digest(key))
    first = token.last_used_at
    assert first is not None
    assert _get(key).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: not written again
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(seconds=61))
    _get(key)
    token.refresh_from_db()
    assert token.last_used_at > first


def test_legacy_authtoken_keys_are_migrated_to_digests_and_keep_working(provider_user):
    """core 0005: the keys DRF's authtoken table held become digests; the table is emptied."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("core.migrations.0005_apitoken_from_authtoken")
    legacy = "a1b2c3d4" + "e" * 32
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE "authtoken_token" ("key" varchar(40) PRIMARY KEY, "user_id" integer, '
                       '"created" timestamp with time zone)' if connection.vendor == "postgresql" else
                       'CREATE TABLE "authtoken_token" ("key" varchar(40) PRIMARY KEY, "user_id" integer, '
                       '"created" datetime)')
        cursor.execute('INSERT INTO "authtoken_token" VALUES (%s, %s, %s)', [legacy, provider_user.pk, timezone.now()])
    try:
        migration.copy_tokens(apps, SimpleNamespace(connection=connection))  # it uses only the connection
        with connection.cursor() as cursor:
            cursor.execute('SELECT COUNT(*) FROM "authtoken_token"')
            assert cursor.fetchone()[0] == 0
    finally:
        with connection.cursor() as cursor:
            cursor.execute('DROP TABLE "authtoken_token"')
    token = ApiToken.objects.get(user=provider_user)
    assert (token.prefix, token.digest) == ("a1b2c3d4", key_digest(legacy))
    assert token.expires_at > timezone.now() + timedelta(days=300)
    assert _get(legacy).status_code == 200
