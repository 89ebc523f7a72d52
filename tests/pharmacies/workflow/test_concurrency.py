"""Row locks: two people acting on the same application at once; the second sees the first's result."""

import threading

import pytest
from django.db import connection

from core.errors import DomainError
from core.roles import Role
from pharmacies import services
from pharmacies.models import Application, WorkflowTransition
from tests.factories import UserFactory

from .helpers import filled_pharmacy_application, review

pytestmark = [pytest.mark.postgres]


def _race(call, actors):
    barrier = threading.Barrier(len(actors))
    outcomes = []

    def run(actor):
        try:
            barrier.wait()
            call(actor)
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(actor,)) for actor in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_two_auditors_deciding_at_once_decide_once(on_postgres, pharmacy_user):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    review(application, UserFactory(roles=[Role.CASE_WORKER]))
    auditors = [UserFactory(roles=[Role.AUDITOR]) for _ in range(2)]

    outcomes = _race(
        lambda actor: services.application_approve(application=application, actor=actor), auditors
    )

    assert outcomes == ["invalid_state", "ok"]
    assert WorkflowTransition.objects.filter(application=application, action="approve").count() == 1
    assert Application.objects.get(pk=application.pk).status == "approved"


@pytest.mark.django_db(transaction=True)
def test_two_case_workers_taking_up_one_application_leave_one_reviewer(on_postgres, pharmacy_user):
    application = filled_pharmacy_application(pharmacy_user)
    services.application_submit(application=application, actor=pharmacy_user)
    workers = [UserFactory(roles=[Role.CASE_WORKER]) for _ in range(2)]

    outcomes = _race(
        lambda actor: services.application_start_review(application=application, actor=actor),
        workers,
    )

    assert outcomes == ["invalid_state", "ok"]
    reviewer = Application.objects.get(pk=application.pk).reviewer
    assert reviewer in workers
    assert (
        WorkflowTransition.objects.get(application=application, action="start_review").actor
        == reviewer
    )
