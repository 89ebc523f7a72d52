"""How people are named on what staff read and sign: names, not usernames."""

from django.utils.translation import gettext as _


def person_name(user) -> str:
    """姓 then 名 as Chinese staff write it; the username only when no name is set; the system
    when there is no user (a scheduled task did it)."""
    if user is None:
        return _("the system (scheduled task)")
    full = f"{user.last_name}{user.first_name}".strip()
    return full or user.get_username()
