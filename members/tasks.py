"""Celery tasks of the personal accounts: interfaces only, they take ids and call a service."""

from datetime import date

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import services


@shared_task(name="members.credit_month")
def credit_month(month: str | None = None, chunk_size: int | None = None) -> int | None:
    """Credit a month (YYYY-MM; default: the current month), scheduled monthly by Celery beat.

    Opens the run, then enqueues one task per chunk of members after the run is committed, so
    several workers can take the chunks at once. Safe to run again: a run whose worker died is
    finished by the next run of the same month, which credits only the members still due.
    """
    if month:
        year, number = month.split("-")
        first = date(int(year), int(number), 1)
    else:
        first = timezone.localdate().replace(day=1)
    with transaction.atomic(durable=True):
        try:
            run = services.credit_month_start(month=first, chunk_size=chunk_size or services.DEFAULT_CHUNK_SIZE)
        except services.MissingReferenceData:
            # The refused run is on record with what is missing (committed as this block
            # ends normally); nothing was credited.
            return None
        for low, high in services.credit_run_chunk_bounds(run):
            credit_chunk.delay_on_commit(run.pk, low, high)
        return run.pk


@shared_task(name="members.credit_chunk", acks_late=True)
def credit_chunk(run_id: int, low: int, high: int) -> None:
    with transaction.atomic(durable=True):
        services.credit_run_chunk(run_id=run_id, low=low, high=high)
