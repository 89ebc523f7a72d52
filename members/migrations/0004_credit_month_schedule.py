"""Celery beat: credit the personal accounts on the 1st of every month at 02:00 (Asia/Shanghai).

A PeriodicTask row, so the schedule is editable in the admin (django-celery-beat)."""

from django.db import migrations

TASK_NAME = "Monthly personal-account credits (个人账户按月划入)"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="2", day_of_month="1", month_of_year="*", day_of_week="*", timezone="Asia/Shanghai",
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "members.tasks.credit_month", "crontab": crontab, "kwargs": "{}", "enabled": True,
                  "description": "Credits the current month; run_monthly_credits --month YYYY-MM does the same."},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0003_account_fillfactor"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
