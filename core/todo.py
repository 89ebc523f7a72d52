"""The workbench (工作台): what is waiting for the signed-in person, with counts and links.

The kernel knows no app: each app registers a source in its AppConfig.ready() (``<app>/todo.py``),
a function ``source(user) -> iterable of Todo`` that decides by the user's roles what that person
may act on (never their own proposal where a second person must act). The admin index shows
them; counts of zero are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class Todo:
    label: str
    count: int
    url: str
    warning: bool = False


_sources: list[Callable[[object], Iterable[Todo]]] = []


def todo_source(source: Callable[[object], Iterable[Todo]]):
    """Register a source (decorator); registering the same function twice is harmless."""
    if source not in _sources:
        _sources.append(source)
    return source


def todos_for(user) -> list[Todo]:
    items = []
    for source in _sources:
        items.extend(item for item in source(user) if item.count)
    return items


def changelist(model_admin_name: str, **filters) -> str:
    """The admin list of ``app_model`` filtered as given (``status__exact="new"``)."""
    url = reverse(f"admin:{model_admin_name}_changelist")
    if filters:
        url += "?" + "&".join(f"{key}={value}" for key, value in filters.items())
    return url
