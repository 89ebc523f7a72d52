"""Fault tests start real processes (PostgreSQL clusters, Redis, Celery workers, gunicorn).
Without a part they need they skip with the reason, unless FAULTS_REQUIRED=1 (as in CI, like
E2E_REQUIRED for the browser tests), where they fail instead: a fault test never skips silently
in CI."""

import os

import pytest

from .processes import Processes, redis_server


def unavailable(reason: str):
    """Skip, or fail when the environment requires the fault tests (FAULTS_REQUIRED=1)."""
    if os.environ.get("FAULTS_REQUIRED") == "1":
        pytest.fail(f"FAULTS_REQUIRED=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason} (set FAULTS_REQUIRED=1 to make this a failure)")


@pytest.fixture
def processes(tmp_path):
    """Real processes for one test; every one of them is stopped (SIGKILL to its group) after it."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def real_services(transactional_db, processes):
    """PostgreSQL (the data committed, so other processes see it) and a redis-server to start."""
    from django.db import connection

    if connection.vendor != "postgresql":
        unavailable("fault tests need PostgreSQL (set DATABASE_URL): Celery workers share the test database")
    if redis_server() is None:
        unavailable("fault tests need redis-server installed (they start a private Redis)")
    return processes
