"""The member page's sections beyond the member's own fields ("the phone call": the year so far,
flags): the kernel knows no app; each app registers a section in its AppConfig.ready(), a function
``section(request, member, year) -> MemberSection | None`` computed by that app's existing read
services. The members app's page shows them in registration order for the selected year.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MemberSection:
    title: str
    headers: list
    # Each row a list of cells (text, numbers, or safe HTML such as a link).
    rows: list = field(default_factory=list)
    empty: str = ""


_sections: list[Callable] = []


def member_section(section: Callable):
    """Register a section (decorator); registering the same function twice is harmless."""
    if section not in _sections:
        _sections.append(section)
    return section


def sections_for(request, member, year: int) -> list[MemberSection]:
    found = []
    for section in _sections:
        result = section(request, member, year)
        if result is not None:
            found.append(result)
    return found
