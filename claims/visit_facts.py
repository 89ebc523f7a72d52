"""What settlement knows about one visit, for the rules that judge it in real time (智能监控,
事中提醒), and the registry those rules join.

Pure: plain dataclasses, no ORM. `claims` defines the facts and asks whoever registered for
warnings; `supervision` registers its single-visit rules at start-up
(`SupervisionConfig.ready`), so the import arrow runs one way: supervision → claims. The batch
monitoring reads settled lines as the same `LineFact`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class LineFact:
    """One line of a visit: in settlement (before it is stored: no `line_id`) or of a settled
    claim (the monitoring run)."""

    position: int
    code: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    platform_price: Decimal | None = None
    kind: str = ""  # the catalog item's kind: drug / service / consumable
    item_class: str = ""  # the catalog item's class (甲/乙/丙)
    line_id: int | None = None


@dataclass(frozen=True)
class VisitFacts:
    visit_date: date
    member_age: int
    member_sex: str
    provider_code: str  # the local provider's code, or the remote provider's
    provider_kind: str
    lines: tuple[LineFact, ...]


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the API's name for it
    rule: str
    message: str
    item: int | None = None  # position of the line it is about, if any

    def as_dict(self) -> dict:
        return {"rule": self.rule, "message": self.message, "item": self.item}


VisitCheck = Callable[[VisitFacts], list[dict]]

_checks: list[VisitCheck] = []


def register(check: VisitCheck) -> None:
    """Add a check settlement runs on every visit (once, however often it is registered)."""
    if check not in _checks:
        _checks.append(check)


def warnings_for(facts: VisitFacts) -> list[dict]:
    """The warnings of every registered check, in the settlement response's shape."""
    warnings: list[dict] = []
    for check in _checks:
        warnings.extend(check(facts))
    return warnings
