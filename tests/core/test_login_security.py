"""Login rules: lockout after repeated failures, password length, audited logins."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.models import AuditEvent
from core.roles import Role
from tests.factories import UserFactory
from tests.second_factor import enter_code, make_authenticator

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def _login(client, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_five_failed_logins_lock_the_user_out_even_with_the_right_password(client, no_backoff):
    """The pair (username, this client) is locked; the back-off is switched off here so that the
    five failures count at once (with it they count once each back-off has passed)."""
    user = UserFactory(roles=[Role.CASE_WORKER])
    for _ in range(4):
        assert _login(client, user.username, "wrong-password-123").status_code == 200
    assert _login(client, user.username, "wrong-password-123").status_code == 429
    locked = _login(client, user.username, PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_successful_login_is_audited_and_lands_in_the_admin(client):
    user = UserFactory(roles=[Role.CASE_WORKER])
    response = _login(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.login", actor=user).count() == 1


def test_a_failed_login_is_audited_without_the_password(client):
    _login(client, "nobody", "secret-guess-0001")
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.target_label == "nobody"
    assert "secret-guess-0001" not in str(event.details)


def test_passwords_need_at_least_twelve_characters():
    with pytest.raises(ValidationError):
        validate_password("Sh0rt-pass!")
    validate_password("a-much-longer-passphrase")


def test_sessions_expire_after_thirty_idle_minutes_and_slide_while_active(client, monkeypatch):
    user = UserFactory(roles=[Role.CASE_WORKER])
    device = make_authenticator(user)
    assert _login(client, user.username, PASSWORD).status_code == 302
    assert enter_code(client, device).status_code == 302
    first_expiry = _stored_expiry(client)
    assert 29 * 60 < (first_expiry - timezone.now()).total_seconds() <= 30 * 60

    later = time.time() + 20 * 60
    monkeypatch.setattr(time, "time", lambda: later)
    with freeze(timezone.now() + timedelta(minutes=20)):
        assert client.get("/admin/").status_code == 200
    assert _stored_expiry(client) > first_expiry + timedelta(minutes=19)


def _stored_expiry(client):
    return Session.objects.get(session_key=client.session.session_key).expire_date


def freeze(moment):
    """Django's session expiry reads timezone.now(); move it forward for one request."""
    return mock.patch("django.contrib.sessions.backends.base.timezone.now", lambda: moment)


# --- the lockout holds the pair (username, client); back-off per username ----------------------


def _login_from(client, username, password, address, forwarded=None):
    extra = {"REMOTE_ADDR": address}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, **extra)


@pytest.fixture
def no_backoff(settings):
    settings.LOGIN_BACKOFF_FREE_ATTEMPTS = 1000


def test_failures_with_many_usernames_from_one_address_lock_nobody_else(client, no_backoff):
    """An office (or the proxy) behind one address: five failures of other names lock no one."""
    colleague = UserFactory(roles=[Role.CASE_WORKER])
    for n in range(8):
        _login_from(client, f"stranger{n}", "wrong-password-123", "10.0.0.1")
    assert _login_from(client, colleague.username, PASSWORD, "10.0.0.1").status_code == 302


def test_a_stranger_cannot_lock_a_colleague_out_from_another_address(client, no_backoff):
    colleague = UserFactory(roles=[Role.CASE_WORKER])
    for _ in range(6):
        _login_from(client, colleague.username, "wrong-password-123", "10.0.0.66")
    assert _login_from(client, colleague.username, PASSWORD, "10.0.0.66").status_code == 429
    assert _login_from(client, colleague.username, PASSWORD, "10.0.0.7").status_code == 302


def test_behind_the_proxy_the_client_is_taken_from_x_forwarded_for(client, settings, no_backoff):
    """TRUSTED_PROXY_COUNT = 1: the proxy's own address is the same for everyone; the client is
    the last X-Forwarded-For entry; what the client wrote further left is not believed."""
    settings.TRUSTED_PROXY_COUNT = 1
    user = UserFactory(roles=[Role.CASE_WORKER])
    for n in range(5):
        # The attacker forges a new leftmost address each time: the proxy appends the real one.
        _login_from(client, user.username, "wrong-password-123", "172.16.0.1", f"1.2.3.{n}, 203.0.113.9")
    assert _login_from(client, user.username, PASSWORD, "172.16.0.1", "9.9.9.9, 203.0.113.9").status_code == 429
    # The same user from another client behind the same proxy is not locked.
    assert _login_from(client, user.username, PASSWORD, "172.16.0.1", "198.51.100.4").status_code == 302


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(client, no_backoff):
    user = UserFactory(roles=[Role.CASE_WORKER])
    for n in range(5):
        _login_from(client, user.username, "wrong-password-123", "10.0.0.9", f"1.2.3.{n}")
    assert _login_from(client, user.username, PASSWORD, "10.0.0.9", "5.5.5.5").status_code == 429


def test_the_lockout_page_is_chinese(client, no_backoff):
    user = UserFactory(roles=[Role.CASE_WORKER])
    for _ in range(5):
        response = _login_from(client, user.username, "wrong-password-123", "10.0.0.3")
    assert response.status_code == 429
    page = response.content.decode()
    assert "登录已锁定" in page and "30" in page


def test_guessing_one_username_from_many_addresses_backs_off_then_lets_the_owner_in(client, monkeypatch):
    """Per-username back-off: slowed, never locked; a refused attempt does not count."""
    import core.auth

    now = [1_000_000.0]
    monkeypatch.setattr(core.auth, "_now", lambda: now[0])
    user = UserFactory(roles=[Role.CASE_WORKER])
    for n in range(3):  # the free attempts
        assert _login_from(client, user.username, "wrong-password-123", f"10.1.0.{n}").status_code == 200
    assert _login_from(client, user.username, "wrong-password-123", "10.1.0.3").status_code == 200
    # Now the name waits 2 s after the last failure, from any address, even with the right password.
    response = _login_from(client, user.username, PASSWORD, "10.1.0.99")
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert "秒后再试" in response.content.decode()
    now[0] += 3
    assert _login_from(client, user.username, "wrong-password-123", "10.1.0.4").status_code == 200
    assert core.auth.backoff_wait_seconds(user.username) == 4
    now[0] += core.auth.settings.LOGIN_BACKOFF_MAX_SECONDS  # never longer than the maximum
    assert _login_from(client, user.username, PASSWORD, "10.1.0.99").status_code == 302
    assert core.auth.backoff_wait_seconds(user.username) == 0


def test_the_back_off_never_exceeds_its_maximum(settings, monkeypatch):
    import core.auth

    monkeypatch.setattr(core.auth, "_now", lambda: 5_000.0)
    for _ in range(40):
        core.auth.backoff_record_failure("victim")
    assert core.auth.backoff_wait_seconds("victim") == settings.LOGIN_BACKOFF_MAX_SECONDS
    core.auth.backoff_reset("victim")
