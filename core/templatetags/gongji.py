"""Template filters for what people read: capital numerals, people's names, months."""

import re
from datetime import datetime

from django import template
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.money import to_capital
from core.people import person_name

register = template.Library()

ISO_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


@register.filter
def capital(amount) -> str:
    """The amount in capital numerals (大写), as financial documents write it."""
    if amount in (None, ""):
        return ""
    return to_capital(amount)


@register.simple_tag
def colon() -> str:
    """The colon after a label, as the reader's language writes it: 制表人：王芳 in Chinese (the
    full-width colon, no space), "Prepared by: Wang Fang" in English."""
    from django.utils.translation import get_language

    return "：" if (get_language() or "").startswith("zh") else ": "


@register.filter
def person(user) -> str:
    """A person's name as staff write it (see core.people.person_name)."""
    return person_name(user)


@register.filter
def field_label(opts, name: str) -> str:
    """A model field's verbose name from its name (a history page's "what changed")."""
    try:
        return str(opts.get_field(name).verbose_name)
    except FieldDoesNotExist:  # a field removed since: its name is all there is
        return name


@register.filter
def field_value(opts, name: str):
    """A function rendering one value of the field as people read it (choices by their label,
    empty values as a dash); used with ``call_with``."""
    try:
        field = opts.get_field(name)
    except FieldDoesNotExist:
        field = None
    choices = dict(field.flatchoices) if field is not None and field.choices else {}

    def render(value):
        if value in (None, "", "None") or (isinstance(value, str) and "(pk=None)" in value):
            return "—"
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, str) and ISO_DATETIME.match(value):
            value = parse_datetime(value) or value
        if isinstance(value, datetime):
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(value) else value.strftime("%Y-%m-%d %H:%M")
        return str(choices.get(value, value))

    return render


@register.filter
def call_with(function, value):
    return function(value)
