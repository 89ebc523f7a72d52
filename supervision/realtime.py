"""Monitoring rules that judge a single visit in real time (智能监控, 事中提醒).

`SupervisionConfig.ready` registers `run_single_visit_rules` with claims
(`claims.visit_facts.register`); settlement then calls it with plain facts and returns what
fired in the response's `warnings`. Claims imports nothing from here. A rule is a pure callable
`rule(facts) -> list[Warning]`; extra ones may be appended to SINGLE_VISIT_RULES.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from claims.visit_facts import LineFact, VisitFacts, Warning  # noqa: F401 - re-exported for the rules

SingleVisitRule = Callable[[VisitFacts], list[Warning]]

# Extra single-visit rules (pure callables) other code may append; the rule library's own
# single-visit rules (sex restriction, frequency within the visit, price) always run too.
SINGLE_VISIT_RULES: list[SingleVisitRule] = []


@dataclass(frozen=True)
class Snapshot:
    """What the settlement-time rules read: the knowledge base and the rules' settings."""

    token: str
    sex_drugs: dict
    frequency: dict
    rules: dict  # code → (enabled, effective_from, effective_to, parameters)


_cache: dict[str, Snapshot] = {}


@functools.cache
def _token_statement():
    """The version token's read, as fixed SQL (core.sql): every settlement runs it."""
    from core.sql import Statement

    from .models import KnowledgeBaseVersion

    table = KnowledgeBaseVersion._meta.db_table
    return Statement(f'SELECT "token" FROM "{table}" WHERE "id" = %s', [KnowledgeBaseVersion._meta.get_field("token")])


def snapshot() -> Snapshot:
    """The cached knowledge base: one query per visit (the version token); reloaded only
    when an import or a rule change has bumped the token."""
    from .models import FrequencyLimit, Rule, SexRestrictedDrug
    from .rules import parameters_of

    token = _token_statement().first([1])
    token = (token[0] if token else "") or ""
    cached = _cache.get("snapshot")
    if cached is not None and cached.token == token:
        return cached
    rules = {
        code: (enabled, start, end, parameters_of(code, parameters))
        for code, enabled, start, end, parameters in Rule.objects.filter(
            code__in=["sex_restricted_drug", "frequency_limit", "price_above_platform"]
        ).values_list("code", "enabled", "effective_from", "effective_to", "parameters")
    }
    fresh = Snapshot(
        token=token,
        sex_drugs=dict(SexRestrictedDrug.objects.values_list("drug_code", "sex")),
        frequency={code: (max_count, unit) for code, max_count, unit in FrequencyLimit.objects.values_list("item_code", "max_count", "unit")},
        rules=rules,
    )
    _cache["snapshot"] = fresh
    return fresh


def _in_force(snap: Snapshot, code: str, day: date) -> dict | None:
    if code not in snap.rules:
        return None
    enabled, start, end, parameters = snap.rules[code]
    if enabled and (start is None or start <= day) and (end is None or day <= end):
        return parameters
    return None


def library_warnings(facts: VisitFacts, snap: Snapshot) -> list[Warning]:
    """The rule library's single-visit rules, pure given the snapshot."""
    from django.utils.translation import gettext as _

    from .rules import frequency_allowed, price_above_platform_line

    warnings: list[Warning] = []
    if _in_force(snap, "sex_restricted_drug", facts.visit_date) is not None:
        # National rule library batch 1 (限定性别).
        for line in facts.lines:
            allowed = snap.sex_drugs.get(line.code)
            if allowed and allowed != facts.member_sex:
                warnings.append(Warning("sex_restricted_drug", _("Drug restricted to the other sex."), line.position))
    params = _in_force(snap, "frequency_limit", facts.visit_date)
    if params is not None:
        # National rule library batch 8-1 (限定频次), within this visit.
        quantities: dict[str, tuple[Decimal, int]] = {}
        for line in facts.lines:
            if line.code in snap.frequency:
                quantity, _position = quantities.get(line.code, (Decimal(0), line.position))
                quantities[line.code] = (quantity + line.quantity, line.position)
        for code, (quantity, position) in quantities.items():
            if quantity > frequency_allowed(*snap.frequency[code], params["hours_per_day"]):
                warnings.append(Warning("frequency_limit", _("Item charged more often than its limit."), position))
    params = _in_force(snap, "price_above_platform", facts.visit_date)
    if params is not None:
        # Ziyang 第二十一条: pharmacy prices must not exceed the platform price.
        for line in facts.lines:
            if price_above_platform_line(line, facts.provider_kind, params):
                warnings.append(Warning("price_above_platform", _("Unit price above the platform price."), line.position))
    return warnings


def run_single_visit_rules(facts: VisitFacts, rules: list[SingleVisitRule] | None = None) -> list[dict]:
    warnings: list[dict] = []
    if rules is None:
        warnings.extend(warning.as_dict() for warning in library_warnings(facts, snapshot()))
    for rule in SINGLE_VISIT_RULES if rules is None else rules:
        warnings.extend(warning.as_dict() for warning in rule(facts))
    return warnings
