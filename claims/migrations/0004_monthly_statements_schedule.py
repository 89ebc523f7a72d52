"""Schedule close_month on the 2nd of every month at 02:00 (Asia/Shanghai) for the month before.

Henan 第五章 / Zaozhuang 第十五条: the agency settles the fund and account shares with the
designated providers monthly. The 2nd (not the 1st) leaves a day for the month's last
settlements and reversals to arrive from the providers' systems before the draft is made.
"""

import json

from django.db import migrations

TASK_NAME = "Close the previous month's provider statements"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="2", day_of_month="2", month_of_year="*", day_of_week="*", timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={"task": "claims.close_previous_month", "crontab": crontab, "enabled": True, "kwargs": json.dumps({})},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("claims", "0003_monthly_statements"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
