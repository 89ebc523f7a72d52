"""Login rules: lockout after repeated failures, password length, audited logins."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError

from core.models import AuditEvent
from core.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def _login(client, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_five_failed_logins_lock_the_user_out_even_with_the_right_password(client):
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
    assert _login(client, user.username, PASSWORD).status_code == 302
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
