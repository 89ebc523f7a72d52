"""The rule library's rows (settings the auditors tune) and the nightly monitoring beat task."""

from django.db import migrations

NIGHTLY = "supervision: nightly monitoring of the previous day"


def create(apps, schema_editor):
    from supervision.rules import RULES

    Rule = apps.get_model("supervision", "Rule")
    for code, spec in RULES.items():
        Rule.objects.get_or_create(code=code, defaults={"description": spec.description, "parameters": {}})
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # 01:30 Beijing time: after the day's settlements, before the working day.
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="1", day_of_week="*", day_of_month="*", month_of_year="*", timezone="Asia/Shanghai"
    )
    PeriodicTask.objects.get_or_create(name=NIGHTLY, defaults={"task": "supervision.monitor_previous_day", "crontab": schedule})


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NIGHTLY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("supervision", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
