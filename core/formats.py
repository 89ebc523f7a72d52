"""Months and durations as people write them (2026年12月, 1.2 秒), in the reader's language."""

from datetime import date, timedelta

from django.utils.translation import gettext as _


def month_label(month: date | None) -> str:
    if month is None:
        return ""
    return _("%(year)s-%(month)s") % {"year": month.year, "month": f"{month.month:02d}"}


def duration_label(duration: timedelta | None) -> str:
    """0:00:00.009675 → "0.01 秒"; 0:03:05 → "3 分 5 秒"; 1:02:00 → "1 小时 2 分"."""
    if duration is None:
        return ""
    seconds = duration.total_seconds()
    if seconds < 60:
        return _("%(seconds)s s") % {"seconds": f"{seconds:.2f}"}
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": seconds}
    hours, minutes = divmod(minutes, 60)
    return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
