import os
import time
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

# The test clock (see `_clock_in_the_hazardous_hour`). Beijing is settings.TIME_ZONE; the real
# date is read once, at collection, so a run that crosses midnight keeps one date throughout.
BEIJING = ZoneInfo("Asia/Shanghai")
REAL_BEIJING_DATE = datetime.now(BEIJING).date()
REAL_START = time.time()
# 00:30 in Beijing is 16:30 UTC of the day before: a stored time read back in UTC (as the database
# gives it) falls on another date than the page shows. TEST_CLOCK=23:30 runs the suite at the
# other end of the day (UTC date = Beijing date); TEST_CLOCK=real leaves the clock alone.
TEST_CLOCK = os.environ.get("TEST_CLOCK", "00:30")
TESTS_DIR = Path(__file__).resolve().parent
# Tests whose other side has a clock time-machine cannot move run on the real clock:
# tests/e2e drives Chromium (its cookies and scripts keep the real time) against live_server;
# tests/faults starts PostgreSQL clusters, gunicorn, Celery workers and Redis as processes.
REAL_CLOCK_DIRS = (TESTS_DIR / "e2e", TESTS_DIR / "faults")
# A fixture that starts another process or a server the browser talks to.
REAL_CLOCK_FIXTURES = {"live_server"}


def clock_start():
    """The moment the suite starts at: TEST_CLOCK (Beijing time) on today's real Beijing date;
    None when TEST_CLOCK=real."""
    if TEST_CLOCK == "real":
        return None
    return datetime.combine(REAL_BEIJING_DATE, clock_time.fromisoformat(TEST_CLOCK), tzinfo=BEIJING)


def clock_now():
    """Where a test's clock starts: clock_start() plus the real time the run has taken so far
    (read before the test travels), so time never goes back from one test to the next (a
    cache entry or a login back-off written by an earlier test is never in the future)."""
    start = clock_start()
    if start is None:
        return None
    return start + timedelta(seconds=max(0.0, time.time() - REAL_START))


def runs_on_the_real_clock(item) -> bool:
    if item.get_closest_marker("real_clock"):
        return True
    if REAL_CLOCK_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    return any(item.path.is_relative_to(folder) for folder in REAL_CLOCK_DIRS)


@pytest.fixture(autouse=True)
def _clock_in_the_hazardous_hour(request):
    """The suite runs as if started at 00:30 Beijing time (TEST_CLOCK) on today's real Beijing
    date: each test travels (time-machine, tick=True) to that moment plus the real time the run
    has taken so far (`clock_now`), and the clock ticks on from there. `timezone.localdate()` and
    `date.today()` are today, as on the real clock, while the UTC date of `timezone.now()` (and of
    every datetime read back from the database) is yesterday until 08:00, hours after any run
    ends. A test that reads a stored UTC time as if it were Beijing time fails at whatever hour
    the suite runs, not only when CI happens to run between 00:00 and 08:00 Beijing.

    Left on the real clock (see `runs_on_the_real_clock`): tests marked `real_clock` (tests that
    start other processes, whose clocks time-machine cannot move), tests under tests/e2e and
    tests/faults, and tests using `live_server`. PostgreSQL's own now() is never moved either: the
    code does not use it (times are set by Django, in Python)."""
    moment = clock_now()
    if moment is None or runs_on_the_real_clock(request.node):
        yield
        return
    import time_machine

    with time_machine.travel(moment, tick=True):
        yield


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
