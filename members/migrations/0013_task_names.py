"""One convention for Celery task names, "<app>.<verb_noun>" (issue 12): the monthly credit's
tasks lose their module part; the beat schedule's rows follow."""

from django.db import migrations

RENAMED = {"members.tasks.credit_month": "members.credit_month", "members.tasks.credit_chunk": "members.credit_chunk"}


def rename(apps, schema_editor, names=RENAMED):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for old, new in names.items():
        PeriodicTask.objects.filter(task=old).update(task=new)


def rename_back(apps, schema_editor):
    rename(apps, schema_editor, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0012_primary_care_registration"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(rename, rename_back)]
