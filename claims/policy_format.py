"""Validation of the outpatient-pooling policy format (claims/policies/FORMAT.md). Pure code.

`validate_parameters(parameters)` returns a list of `(path, message)` problems; an empty
list means the parameters are well formed. A null value is allowed wherever the documents
leave a number open (**param**): settlement refuses, naming it, until a case worker sets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from .calculator import LEVELS, PHARMACY

KIND = "outpatient_pooling"
DEDUCTIBLE_MODES = ("annual_top_up", "annual", "per_visit")
PHARMACY_RULES = ("table", "prescribing_institution", "not_covered")
PLACES = ("in_province", "out_of_province")
STATUSES = ("in_service", "retired")
SCHEMES = ("combined", "pooled_only")
REQUIRED_KEYS = (
    "deductible",
    "ratio",
    "pharmacy",
    "covered_levels",
    "annual_cap",
    "first_year",
    "temporary_visit",
    "counts_toward_annual_fund_maximum",
    "large_expense_subsidy",
)
OPTIONAL_KEYS = ("other", "settlement_window_days", "covered_institutions", "annual_fund_maximum", "chosen_institutions")


def _number(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


class _Checker:
    def __init__(self):
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str):
        self.problems.append((path, message))

    def percent(self, path, value, *, low=Decimal(0), high=Decimal(100), nullable=True):
        if value is None:
            if not nullable:
                self.fail(path, "is required")
            return
        number = _number(value)
        if number is None:
            self.fail(path, "must be a number (percent)")
        elif not low <= number <= high:
            self.fail(path, f"must be between {low} and {high}")

    def money_cell(self, path, cell, *, bounds: tuple | None = None):
        """null | amount | {"in_service","retired"} | {"combined","pooled_only"} |
        {"percent_of_average_wage", "wage_year", "min_percent"?, "max_percent"?}."""
        if cell is None:
            return
        if isinstance(cell, Mapping):
            if "percent_of_average_wage" in cell:
                extra = set(cell) - {"percent_of_average_wage", "wage_year", "min_percent", "max_percent"}
                if extra:
                    self.fail(path, f"unknown keys {sorted(extra)}")
                if not isinstance(cell.get("wage_year"), int) or isinstance(cell.get("wage_year"), bool):
                    self.fail(f"{path}.wage_year", "must be a year")
                low = _number(cell.get("min_percent", 0))
                high = _number(cell.get("max_percent", 100))
                if low is None or high is None or low > high:
                    self.fail(path, "min_percent and max_percent must be numbers, min ≤ max")
                    return
                # Bounds written in the file are the document's; the percent stays within them.
                self.percent(f"{path}.percent_of_average_wage", cell.get("percent_of_average_wage"), low=low, high=high)
                return
            keys = set(cell)
            for group in (STATUSES, SCHEMES):
                if keys and keys <= set(group):
                    if keys != set(group):
                        self.fail(path, f"must name all of {list(group)}")
                    for key in group:
                        self.money_cell(f"{path}.{key}", cell.get(key))
                    return
            self.fail(path, "must be an amount, or an object by employment status, by scheme or by average wage")
            return
        number = _number(cell)
        if number is None or isinstance(cell, float):
            self.fail(path, "must be an amount written as a string, e.g. \"200.00\"")
        elif number < 0:
            self.fail(path, "must not be negative")
        elif number != number.quantize(Decimal("0.01")):
            self.fail(path, "must be exact to the fen")

    def levels(self, path, value):
        if not isinstance(value, list) or any(level not in LEVELS for level in value):
            self.fail(path, f"must be a list of levels among {list(LEVELS)}")


def validate_parameters(parameters) -> list[tuple[str, str]]:
    check = _Checker()
    if not isinstance(parameters, Mapping):
        return [("parameters", "must be an object")]
    for key in REQUIRED_KEYS:
        if key not in parameters:
            check.fail(key, "is required (write null where the document leaves it open)")
    for key in set(parameters) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS):
        check.fail(key, "is not a parameter of the format")

    deductible = parameters.get("deductible")
    if not isinstance(deductible, Mapping):
        check.fail("deductible", "must be an object with mode and amount")
    else:
        mode = deductible.get("mode")
        if mode not in DEDUCTIBLE_MODES:
            check.fail("deductible.mode", f"must be one of {list(DEDUCTIBLE_MODES)}")
        amount = deductible.get("amount")
        if mode == "annual_top_up":
            if amount is not None:
                if not isinstance(amount, Mapping) or not amount or any(k not in LEVELS for k in amount):
                    check.fail("deductible.amount", "must be an object by level")
                else:
                    for level, cell in amount.items():
                        check.money_cell(f"deductible.amount.{level}", cell)
        else:
            check.money_cell("deductible.amount", amount)
        if "exempt_levels" in deductible:
            check.levels("deductible.exempt_levels", deductible["exempt_levels"])

    ratio = parameters.get("ratio")
    if not isinstance(ratio, Mapping):
        check.fail("ratio", "must be an object with base, retired_bonus, pre_1949_veteran_bonus")
    else:
        base = ratio.get("base")
        if not isinstance(base, Mapping) or not base:
            check.fail("ratio.base", "must be an object: level → percent (null while not set)")
        else:
            for level, value in base.items():
                if level not in LEVELS and level != PHARMACY:
                    check.fail(f"ratio.base.{level}", "is not a level")
                check.percent(f"ratio.base.{level}", value)
        for key in ("retired_bonus", "pre_1949_veteran_bonus"):
            if key not in ratio:
                check.fail(f"ratio.{key}", "is required")
            check.percent(f"ratio.{key}", ratio.get(key), low=Decimal(-100))

    if parameters.get("pharmacy") not in PHARMACY_RULES:
        check.fail("pharmacy", f"must be one of {list(PHARMACY_RULES)}")
    elif parameters.get("pharmacy") == "table" and isinstance(ratio, Mapping):
        if PHARMACY not in (ratio.get("base") or {}):
            check.fail("ratio.base.pharmacy", "is required when pharmacies have their own ratio")
    if parameters.get("covered_levels") is not None:
        check.levels("covered_levels", parameters["covered_levels"])

    check.money_cell("annual_cap", parameters.get("annual_cap"))
    check.money_cell("annual_fund_maximum", parameters.get("annual_fund_maximum"))
    first_year = parameters.get("first_year")
    if first_year is not None:
        if not isinstance(first_year, Mapping) or not isinstance(first_year.get("year"), int):
            check.fail("first_year", "must be null or {\"year\": YYYY, \"cap_percent\": N}")
        else:
            check.percent("first_year.cap_percent", first_year.get("cap_percent"), nullable=False)

    temporary = parameters.get("temporary_visit")
    if not isinstance(temporary, Mapping):
        check.fail("temporary_visit", "must be an object with prepay_percent and ratio_points")
    else:
        check.percent("temporary_visit.prepay_percent", temporary.get("prepay_percent"))
        points = temporary.get("ratio_points")
        if not isinstance(points, Mapping) or set(points) != set(PLACES):
            check.fail("temporary_visit.ratio_points", f"must name {list(PLACES)}")
        else:
            for place in PLACES:
                check.percent(f"temporary_visit.ratio_points.{place}", points[place], low=Decimal(-100), nullable=False)

    counts = parameters.get("counts_toward_annual_fund_maximum")
    if counts is not None and not isinstance(counts, bool):
        check.fail("counts_toward_annual_fund_maximum", "must be true, false or null")

    subsidy = parameters.get("large_expense_subsidy")
    if subsidy is not None:
        if not isinstance(subsidy, Mapping) or set(subsidy) != {"threshold", "ratio_percent"}:
            check.fail("large_expense_subsidy", "must be null or {\"threshold\", \"ratio_percent\"}")
        else:
            check.money_cell("large_expense_subsidy.threshold", subsidy["threshold"])
            check.percent("large_expense_subsidy.ratio_percent", subsidy["ratio_percent"])

    institutions = parameters.get("covered_institutions")
    if institutions is not None:
        if (
            not isinstance(institutions, Mapping)
            or set(institutions) - {"inpatient_beds_required", "without_beds_levels"}
            or not isinstance(institutions.get("inpatient_beds_required"), bool)
        ):
            check.fail("covered_institutions", "must be null or {\"inpatient_beds_required\": true|false, \"without_beds_levels\": [levels]}")
        else:
            check.levels("covered_institutions.without_beds_levels", institutions.get("without_beds_levels", []))

    chosen = parameters.get("chosen_institutions")
    if chosen is not None:
        # Jinan (四): members' chosen institutions (人员定点备案), their number, the deductible.
        if (
            not isinstance(chosen, Mapping)
            or set(chosen) != {"required", "max_count", "deductible_per_institution"}
            or not isinstance(chosen.get("required"), bool)
            or not isinstance(chosen.get("deductible_per_institution"), bool)
        ):
            check.fail(
                "chosen_institutions",
                "must be null or {\"required\": true|false, \"max_count\": N|null, \"deductible_per_institution\": true|false}",
            )
        else:
            count = chosen.get("max_count")
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 99):
                check.fail("chosen_institutions.max_count", "must be null or a whole number from 1 to 99")

    other = parameters.get("other")
    if other is not None and not isinstance(other, Mapping):
        check.fail("other", "must be an object")
    window = parameters.get("settlement_window_days")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= 3660):
        check.fail("settlement_window_days", "must be a whole number of days between 0 and 3660")
    return check.problems


def validate_document(data) -> list[tuple[str, str]]:
    """A whole policy file: {"kind", "region", "versions": [{effective_from, effective_to, parameters}]}."""
    from datetime import date

    if not isinstance(data, Mapping) or data.get("kind") != KIND:
        return [("kind", f"must be {KIND!r}")]
    problems = []
    if not isinstance(data.get("region"), str):
        problems.append(("region", "is required"))
    versions = data.get("versions")
    if not isinstance(versions, list) or not versions:
        return problems + [("versions", "must be a non-empty list")]
    for index, version in enumerate(versions):
        where = f"versions[{index}]"
        if not isinstance(version, Mapping):
            problems.append((where, "must be an object"))
            continue
        for key in ("effective_from", "effective_to"):
            value = version.get(key)
            if value is None and key == "effective_to":
                continue
            try:
                date.fromisoformat(str(value))
            except ValueError:
                problems.append((f"{where}.{key}", "must be a date YYYY-MM-DD"))
        choices = version.get("agency_choices")
        if choices is not None and (not isinstance(choices, Mapping) or not all(isinstance(v, str) for v in choices.values())):
            problems.append((f"{where}.agency_choices", "must be an object: parameter → why it is the agency's choice"))
        problems += [(f"{where}.parameters.{path}", message) for path, message in validate_parameters(version.get("parameters"))]
    return problems
