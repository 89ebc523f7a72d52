"""The scheduled jobs in plain words, for the staff who wait on them (issue 16).

Case workers and finance see what runs when ("每月1日 02:00 生成上月月度清算单") on one read-only
page; the cron fields and Celery's own admin stay with 系统管理 (core.roles). Apps name their
tasks here by the Celery task name; a task not named shows its schedule entry's name.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

TASK_LABELS = {
    "members.credit_month": gettext_lazy("Credit the personal accounts for the month"),
    "claims.close_previous_month": gettext_lazy("Generate last month's monthly statements"),
    "supervision.monitor_previous_day": gettext_lazy("Run the monitoring rules over yesterday's settlements"),
    "pharmacies.expire_agreements": gettext_lazy("Expire agreements past their end date"),
    "claims.prepare_year_end": gettext_lazy("Prepare last year's year-end settlements"),
}


@dataclass(frozen=True)
class Schedule:
    what: str
    when: str
    enabled: bool
    last_run_at: object


def _number(field: str) -> int | None:
    return int(field) if field.isdigit() else None


def crontab_words(minute: str, hour: str, day_of_month: str, month_of_year: str, day_of_week: str) -> str:
    """A crontab as people say it: 每天 01:30, 每月1日 02:00, 每周一 03:00, 每年1月15日 03:00;
    anything else in full."""
    m, h = _number(minute), _number(hour)
    if m is not None and h is not None and _number(month_of_year) is not None and _number(day_of_month) is not None \
            and day_of_week == "*":
        return _("every year on %(month)s/%(day)s at %(time)s") % {
            "month": int(month_of_year), "day": int(day_of_month), "time": f"{h:02d}:{m:02d}"}
    if m is None or h is None or month_of_year != "*":
        return _("at %(cron)s (cron)") % {"cron": f"{minute} {hour} {day_of_month} {month_of_year} {day_of_week}"}
    time = f"{h:02d}:{m:02d}"
    if day_of_month == "*" and day_of_week == "*":
        return _("every day at %(time)s") % {"time": time}
    if day_of_week == "*" and _number(day_of_month) is not None:
        return _("on day %(day)s of every month at %(time)s") % {"day": day_of_month, "time": time}
    if day_of_month == "*" and _number(day_of_week) is not None:
        names = [_("Sunday"), _("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday")]
        return _("every %(weekday)s at %(time)s") % {"weekday": names[int(day_of_week) % 7], "time": time}
    return _("at %(cron)s (cron)") % {"cron": f"{minute} {hour} {day_of_month} {month_of_year} {day_of_week}"}


def schedules() -> list[Schedule]:
    from django_celery_beat.models import PeriodicTask

    rows = []
    for task in PeriodicTask.objects.select_related("crontab", "interval").order_by("name"):
        if task.name.startswith("celery."):
            continue  # Celery's own housekeeping
        if task.crontab_id:
            c = task.crontab
            when = crontab_words(c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week)
        elif task.interval_id:
            when = _("every %(every)s %(period)s") % {"every": task.interval.every, "period": task.interval.get_period_display()}
        else:
            when = _("not scheduled")
        rows.append(Schedule(str(TASK_LABELS.get(task.task, task.name)), when, task.enabled, task.last_run_at))
    return rows
