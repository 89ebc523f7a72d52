"""Schedule prepare_year_end on January 15 every year at 03:00 (Asia/Shanghai) for the year before.

The year-end settlement (年度清算, claims/statements/year_end.py) is prepared from the year's
approved monthly statements; December's is drafted on January 2 (0004_monthly_statements_schedule)
and approved by finance in the days after, so the 15th leaves two weeks for that. A provider
whose statements are still drafts is refused and listed; finance prepares it later with the
prepare_year_end command or the admin's action.
"""

import json

from django.db import migrations

TASK_NAME = "Prepare last year's year-end settlements"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_month="15", month_of_year="1", day_of_week="*", timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={"task": "claims.prepare_year_end", "crontab": crontab, "enabled": True, "kwargs": json.dumps({})},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0020_subsidy_take_back"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
