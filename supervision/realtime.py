"""Monitoring rules that judge a single visit in real time (智能监控, 事中提醒).

Settlement (claims) calls `run_single_visit_rules()` with plain facts and returns what fired
in the response's `warnings`. A rule is a pure callable `rule(facts) -> list[Warning]`; it
imports nothing from claims. The list is empty until the monitoring issue plugs rules in:
append a callable to SINGLE_VISIT_RULES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class VisitLineFacts:
    position: int
    code: str
    item_class: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    platform_price: Decimal | None = None


@dataclass(frozen=True)
class VisitFacts:
    visit_date: date
    member_age: int
    member_sex: str
    provider_code: str  # the local provider's code, or the remote provider's
    provider_kind: str
    lines: tuple[VisitLineFacts, ...]


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the API's name for it
    rule: str
    message: str
    item: int | None = None  # position of the line it is about, if any

    def as_dict(self) -> dict:
        return {"rule": self.rule, "message": self.message, "item": self.item}


SingleVisitRule = Callable[[VisitFacts], list[Warning]]

SINGLE_VISIT_RULES: list[SingleVisitRule] = []


def run_single_visit_rules(facts: VisitFacts, rules: list[SingleVisitRule] | None = None) -> list[dict]:
    warnings: list[dict] = []
    for rule in SINGLE_VISIT_RULES if rules is None else rules:
        warnings.extend(warning.as_dict() for warning in rule(facts))
    return warnings
