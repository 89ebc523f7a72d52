"""Celery task names follow one convention, "<app>.<verb_noun>", and every beat entry names a
task that exists (issue 12)."""

import re

import pytest
from django.apps import apps as django_apps
from django_celery_beat.models import PeriodicTask

from config.celery import app
from core.schedules import TASK_LABELS

CONVENTION = re.compile(r"^(?P<app>[a-z]+)\.(?P<verb>[a-z]+)(_[a-z0-9]+)+$")


def _our_tasks() -> dict[str, object]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_is_named_app_dot_verb_noun_after_its_own_app():
    tasks = _our_tasks()
    assert {"members.credit_month", "members.credit_chunk", "claims.close_previous_month",
            "supervision.monitor_previous_day", "pharmacies.expire_agreements"} <= set(tasks)
    labels = {config.label for config in django_apps.get_app_configs()}
    for name, task in tasks.items():
        match = CONVENTION.match(name)
        assert match, f"task {name!r} is not named <app>.<verb_noun>"
        assert match["app"] in labels, f"task {name!r} names no app"
        module = task.run.__module__
        assert module.split(".")[0] == match["app"], f"task {name!r} lives in {module}, another app"


@pytest.mark.django_db
def test_every_beat_entry_and_every_schedule_label_names_an_existing_task():
    tasks = _our_tasks()
    entries = list(PeriodicTask.objects.exclude(name__startswith="celery.").values_list("name", "task"))
    assert len(entries) >= 4  # the migrations' schedules
    for name, task in entries:
        assert task in tasks, f"beat entry {name!r} names no task ({task!r})"
    assert set(TASK_LABELS) <= set(tasks)
    assert {task for _name, task in entries} <= set(TASK_LABELS)
