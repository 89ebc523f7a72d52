"""The suite's clock (tests/conftest.py, `_clock_in_the_hazardous_hour`): every test runs at
00:30 Beijing time on today's real Beijing date, when the UTC date is the day before, so a test
that reads a stored UTC time as if it were Beijing time fails whatever hour the suite runs at."""

import time
from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from tests.conftest import BEIJING, REAL_BEIJING_DATE, TEST_CLOCK, clock_start

MONOTONIC_AT_IMPORT = time.monotonic()  # not moved by time-machine

pytestmark = pytest.mark.skipif(TEST_CLOCK == "real", reason="TEST_CLOCK=real: the real clock")


def test_the_suite_runs_at_its_fixed_beijing_hour_on_todays_date():
    assert settings.TIME_ZONE == "Asia/Shanghai" and str(BEIJING) == settings.TIME_ZONE
    assert time_machine.escape_hatch.is_travelling()
    local = timezone.localtime()
    start = clock_start()
    # The clock runs on from the start by the run's real time so far (the suite takes minutes).
    assert start <= local < start + timedelta(seconds=time.monotonic() - MONOTONIC_AT_IMPORT + 60)
    assert timezone.localdate() == date.today()
    if TEST_CLOCK == "00:30":  # hours before the Beijing date could change
        assert timezone.localdate() == REAL_BEIJING_DATE


@pytest.mark.skipif(TEST_CLOCK != "00:30", reason="the hazardous hour is the default TEST_CLOCK")
def test_by_default_the_utc_date_is_the_day_before_the_beijing_date():
    now = timezone.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert now.date() == timezone.localdate() - timedelta(days=1)
    assert datetime.fromtimestamp(time.time(), BEIJING).hour == 0  # time.time() is moved too


@pytest.mark.django_db
def test_a_time_read_back_from_the_database_is_on_the_utc_date():
    """What CI once tripped on: a stored time comes back in UTC; localtime gives the page's date."""
    from core.models import AuditEvent

    event = AuditEvent.objects.create(action="test.clock", target_type="test", target_id="1")
    event.refresh_from_db()
    assert timezone.localtime(event.at).date() == timezone.localdate()
    if TEST_CLOCK == "00:30":
        assert event.at.date() == timezone.localdate() - timedelta(days=1)


@pytest.mark.real_clock
def test_a_test_marked_real_clock_keeps_the_real_time():
    assert not time_machine.escape_hatch.is_travelling()
