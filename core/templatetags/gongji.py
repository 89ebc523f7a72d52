"""Template filters for what people read: capital numerals, people's names, months."""

from django import template
from core.money import to_capital
from core.people import person_name

register = template.Library()


@register.filter
def capital(amount) -> str:
    """The amount in capital numerals (大写), as financial documents write it."""
    if amount in (None, ""):
        return ""
    return to_capital(amount)


@register.filter
def person(user) -> str:
    """A person's name as staff write it (see core.people.person_name)."""
    return person_name(user)
