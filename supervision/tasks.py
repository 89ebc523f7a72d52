"""Celery tasks of supervision: thin, they call one service."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone


@shared_task(name="supervision.monitor_previous_day")
def monitor_previous_day() -> int:
    """The nightly run (beat schedule: data migration supervision 0002): yesterday's settlements.

    No transaction of its own: the run stores each rule's flags in a transaction of their own
    (supervision.monitoring.monitoring_run), so a long run holds no lock."""
    from .monitoring import monitoring_run

    day = timezone.localdate() - timedelta(days=1)
    return monitoring_run(date_from=day, date_to=day).pk
