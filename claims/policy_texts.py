"""What the policy texts themselves fix, where they give a bound rather than a value. Pure code.

A version's parameters are the agency's numbers; where a text only bounds a number, the
agency chooses within the bound, and saving a version checks it (PolicyVersion.clean).
The admin shows each bounded number next to what the text says (`text_comparison`).

Yangzhou (seeds/003, 二(一)2, 2023-01-01):
  (1) 起付标准：不高于2021年度我市全口径城镇单位就业人员年平均工资的1%  → deductible ≤ 1% of the
      2021 average wage;
  (2) 支付比例 … 不低于60%，对不同等级的定点医疗机构设置差异化支付比例 → every in-service ratio
      ≥ 60% (the table per level is the agency's choice);
  (3) 最高支付限额：2021年度 … 年平均工资的8%左右 → the cap about 8% of the 2021 average wage,
      read as 6%–10% (FORMAT.md) — the percent within that band is the agency's choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from core.money import to_fen

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TextBound:
    path: str  # a parameter path; "ratio.base.*" means every level of the table
    article: str
    text: str  # the text's words
    kind: str  # "percent" (a ratio) or "wage_share" (a money cell as a share of an average wage)
    low: Decimal | None = None
    high: Decimal | None = None
    wage_year: int | None = None


TEXT_BOUNDS: dict[str, tuple[TextBound, ...]] = {
    "yangzhou": (
        TextBound(
            "deductible.amount", "二(一)2(1)", "不高于2021年度全口径城镇单位就业人员年平均工资的1%",
            "wage_share", high=Decimal(1), wage_year=2021,
        ),
        TextBound("ratio.base.*", "二(一)2(2)", "支付比例不低于60%", "percent", low=Decimal(60)),
        TextBound(
            "annual_cap", "二(一)2(3)", "2021年度全口径城镇单位就业人员年平均工资的8%左右（按6%–10%掌握）",
            "wage_share", low=Decimal(6), high=Decimal(10), wage_year=2021,
        ),
    ),
}


@dataclass(frozen=True)
class Comparison:
    path: str
    article: str
    text: str
    value: str  # the version's number, as written ("" while open)
    within: bool | None  # None: open (null) or cannot be checked yet
    problem: str = ""
    # Why it is not within: "outside" the bound, "wage_year" (another year's wage),
    # "wage_missing" (the reference wage the bound needs is not entered).
    reason: str = ""
    year: int | None = None  # the average wage's year, for a wage-based bound


def _number(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _leaves(cell, path: str):
    """(path, leaf) for every amount or wage share in a money cell (by status or scheme)."""
    if isinstance(cell, Mapping) and "percent_of_average_wage" not in cell:
        for key, value in cell.items():
            yield from _leaves(value, f"{path}.{key}")
    else:
        yield path, cell


def _bound_words(bound: TextBound) -> str:
    low = f"≥ {bound.low}%" if bound.low is not None else ""
    high = f"≤ {bound.high}%" if bound.high is not None else ""
    return " ".join(part for part in (low, high) if part)


def _check_percent(bound: TextBound, path: str, value) -> Comparison:
    number = _number(value)
    if number is None:
        return Comparison(path, bound.article, bound.text, "", None)
    ok = (bound.low is None or number >= bound.low) and (bound.high is None or number <= bound.high)
    problem = "" if ok else f"the text ({bound.article}) requires {_bound_words(bound)}; this version has {number}%"
    return Comparison(path, bound.article, bound.text, f"{number}%", ok, problem, "" if ok else "outside")


def _check_wage_share(bound: TextBound, path: str, cell, reference: Mapping) -> Comparison:
    if cell is None:
        return Comparison(path, bound.article, bound.text, "", None)
    words = f"{_bound_words(bound)} of the {bound.wage_year} average wage"
    if isinstance(cell, Mapping):
        percent = _number(cell.get("percent_of_average_wage"))
        if cell.get("wage_year") != bound.wage_year:
            return Comparison(
                path, bound.article, bound.text, f"{percent}% × {cell.get('wage_year')}", False,
                f"the text ({bound.article}) refers to the {bound.wage_year} average wage", "wage_year",
            )
        if percent is None:
            return Comparison(path, bound.article, bound.text, "", None)
        ok = (bound.low is None or percent >= bound.low) and (bound.high is None or percent <= bound.high)
        value = f"{percent}% × {bound.wage_year}"
        return Comparison(path, bound.article, bound.text, value, ok, "" if ok else f"the text ({bound.article}) requires {words}; this version has {percent}%", "" if ok else "outside")
    amount = _number(cell)
    wage = reference.get(("average_wage", bound.wage_year))
    if amount is None:
        return Comparison(path, bound.article, bound.text, str(cell), None)
    if wage is None:
        return Comparison(
            path, bound.article, bound.text, f"{amount}", False,
            f"the text ({bound.article}) bounds it by the {bound.wage_year} average wage, which is not in the reference data (average_wage.{bound.wage_year})", "wage_missing",
        )
    wage = Decimal(wage)
    low = to_fen(wage * bound.low / HUNDRED) if bound.low is not None else None
    high = to_fen(wage * bound.high / HUNDRED) if bound.high is not None else None
    ok = (low is None or amount >= low) and (high is None or amount <= high)
    limits = " ".join(part for part in (f"≥ {low}" if low is not None else "", f"≤ {high}" if high is not None else "") if part)
    return Comparison(path, bound.article, bound.text, f"{amount}", ok, "" if ok else f"the text ({bound.article}) requires {words} ({limits}); this version has {amount}", "" if ok else "outside")


def _get(parameters: Mapping, path: str):
    node = parameters
    for key in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def text_comparison(region: str, parameters: Mapping, reference: Mapping | None = None) -> list[Comparison]:
    """Each number the region's text bounds, next to this version's value."""
    reference = reference or {}
    rows: list[Comparison] = []
    if not isinstance(parameters, Mapping):
        return rows
    for bound in TEXT_BOUNDS.get(region, ()):
        if bound.path.endswith(".*"):
            table = _get(parameters, bound.path[:-2])
            for key, value in (table.items() if isinstance(table, Mapping) else ()):
                rows.append(_check_percent(bound, f"{bound.path[:-2]}.{key}", value))
            continue
        for path, cell in _leaves(_get(parameters, bound.path), bound.path):
            if bound.kind == "percent":
                rows.append(_check_percent(bound, path, cell))
            else:
                rows.append(replace(_check_wage_share(bound, path, cell, reference), year=bound.wage_year))
    return rows


def text_bound_problems(region: str, parameters: Mapping, reference: Mapping | None = None) -> list[tuple[str, str]]:
    """(path, message) for every number outside its text's bound; empty when all are within."""
    return [(row.path, row.problem) for row in text_comparison(region, parameters, reference) if row.within is False]


def wage_years(region: str) -> set[int]:
    return {bound.wage_year for bound in TEXT_BOUNDS.get(region, ()) if bound.wage_year is not None}
