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
