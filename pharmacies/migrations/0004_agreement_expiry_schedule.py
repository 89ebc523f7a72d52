"""Schedule the daily expiry of agreements past their end date at 00:10 (Asia/Shanghai).

An agreement is valid through its last day (period_to): from the next day the provider can no
longer settle unless a renewal is in force (pharmacies.services.agreements_expire_due).
"""

import json

from django.db import migrations

TASK_NAME = "Expire agreements past their end date"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="10", hour="0", day_of_month="*", month_of_year="*", day_of_week="*", timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={"task": "pharmacies.expire_agreements", "crontab": crontab, "enabled": True, "kwargs": json.dumps({})},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("pharmacies", "0003_agreement_expiry"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
