"""Celery tasks of pharmacies: thin, they call one service."""

from celery import shared_task
from django.db import transaction


@shared_task(name="pharmacies.expire_agreements")
def expire_agreements() -> list[int]:
    """Daily (beat schedule: data migration pharmacies 0004_agreement_expiry_schedule): the
    agreements whose period ended expire; their providers can no longer settle."""
    from .services import agreements_expire_due

    with transaction.atomic(durable=True):
        return agreements_expire_due()
