"""django-celery-beat's "run selected tasks" from the admin: the task is sent once the admin
request has committed. Before, it was sent inside the request's durable transaction: run
in-process, the task's own durable transaction raised; with a worker, it could start before
the request committed."""

from datetime import date

import pytest
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.roles import Role
from pharmacies.models import Agreement
from tests.factories import ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db


def _overdue_agreement():
    return Agreement.objects.create(
        provider=ProviderFactory(), period_from=date(2020, 1, 1), period_to=date(2020, 12, 31),
        payment_method=Agreement.PaymentMethod.PER_ITEM, outpatient_pooling=True, status=Agreement.Status.ACTIVE,
        signed_by=UserFactory())


def test_run_tasks_sends_the_task_after_the_request_commits(client, django_capture_on_commit_callbacks):
    agreement = _overdue_agreement()
    task = PeriodicTask.objects.create(
        name="expire", task="pharmacies.expire_agreements",
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS))
    client.force_login(UserFactory(roles=[Role.ADMINISTRATOR]))
    url = reverse("admin:django_celery_beat_periodictask_changelist")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(url, {"action": "run_tasks", "_selected_action": [task.pk], "index": "0"})
    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.status == Agreement.Status.ACTIVE  # nothing ran inside the request
    assert len(sent) == 1
    sent[0]()  # the commit: the task runs (eagerly here; a worker picks it up in production)
    agreement.refresh_from_db()
    assert agreement.status == Agreement.Status.EXPIRED


def test_run_tasks_with_an_unknown_task_says_so_and_sends_nothing(client, django_capture_on_commit_callbacks):
    task = PeriodicTask.objects.create(
        name="gone", task="no.such.task", interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS))
    client.force_login(UserFactory(roles=[Role.ADMINISTRATOR]))
    url = reverse("admin:django_celery_beat_periodictask_changelist")
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(url, {"action": "run_tasks", "_selected_action": [task.pk], "index": "0"}, follow=True)
    assert sent == []
    assert "no.such.task" in response.content.decode()
