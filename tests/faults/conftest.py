import pytest

from .processes import Processes, redis_server


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
        pytest.skip("fault tests need PostgreSQL (set DATABASE_URL): Celery workers share the test database")
    if redis_server() is None:
        pytest.skip("fault tests need redis-server installed (they start a private Redis)")
    return processes
