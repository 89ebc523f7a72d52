"""Celery task for the monthly statements, scheduled by django-celery-beat (claims migration
0004_monthly_statements_schedule) on the 2nd of every month."""

from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone


@shared_task(name="claims.close_previous_month")
def close_previous_month(month: str | None = None) -> dict:
    """Close `month` (YYYY-MM), by default the month before today (local time)."""
    from .services import parse_month, statement_close_month

    if month:
        first = parse_month(month)
    else:
        today = timezone.localdate()
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    with transaction.atomic(durable=True):
        result = statement_close_month(month=first, user=None)
    return {"month": f"{result.month:%Y-%m}", "created": result.created, "replaced": result.replaced,
            "kept_approved": result.kept_approved, "failed": [list(failure) for failure in result.failed]}


@shared_task(name="claims.prepare_year_end")
def prepare_year_end(year: int | None = None) -> dict:
    """Prepare the year-end settlements of `year`, by default last year (local time)."""
    from .year_end import year_end_prepare_all

    year = int(year) if year else timezone.localdate().year - 1
    with transaction.atomic(durable=True):
        result = year_end_prepare_all(year=year, user=None)
    return {"year": result.year, "prepared": list(result.prepared), "refused": [list(item) for item in result.refused]}
