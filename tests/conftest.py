import pytest


@pytest.fixture(autouse=True)
def _jobs_in_process(settings):
    """Tests run Celery tasks in-process, whatever the environment's broker."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs a second per user on a busy machine; the hasher is not what tests test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_settlement_window(settings):
    """The suite's visits are dated from 2023 (the policies' worked examples): the settlement
    window (claims.services, SETTLEMENT_WINDOW_DAYS) is off unless a test turns it on."""
    settings.SETTLEMENT_WINDOW_DAYS = 0


@pytest.fixture
def on_postgres(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    return connection


def verify_second_factor(client, user):
    """Mark `client`'s session as signed in with the second factor (core.otp) for an agency user,
    with a confirmed authenticator made for the purpose: what the code page does after a code."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from core.otp import is_agency_user

    if not is_agency_user(user):
        return None
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


@pytest.fixture(autouse=True)
def _force_login_verifies_second_factor(request, monkeypatch):
    """The suite signs agency users in with client.force_login in many places; those sessions are
    verified with the second factor too, as after the code page. Tests of the code pages
    themselves are marked `second_factor` and get the password-only session a real login gives."""
    if request.node.get_closest_marker("second_factor"):
        return
    from django.test import Client

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        verify_second_factor(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)
