"""The chronic and special diseases' policy format (PolicyVersion kind `chronic_special`).
Pure code: validation only. README "Chronic and special diseases" documents it.

A file:

    {"kind": "chronic_special", "region": "...", "source": "...",
     "diseases": [{"code", "name", "group"}],          # the list, upserted into Disease
     "versions": [{"effective_from", "effective_to", "title", "parameters": {...}}]}

Parameters of a version:

    "groups": {"chronic"|"special"|"two_diseases": TERMS}
    "diseases": {"<code>": TERMS plus "scope"}         # a disease's own terms win key by key
    "exclusions": [{"group", "excluded_by", "on_new_excluded", "on_new_excluding"}]
    "counts_toward_large_expense_subsidy": bool       # Jinan (七)
    "ordinary_pooling_too": bool                      # the default of every group and disease
    TERMS = {"tally": "disease"|"group", "deductible": money cell, "ratio_percent": percent or
             {level: percent}, "retired_bonus": percent, "annual_limit": money cell,
             "ordinary_pooling_too": bool (optional; the disease's wins over its group's, which
             wins over the version's; absent everywhere: true)}
    "scope": null (every policy-scope item) or a list of catalog codes

Money cells and percents are those of the outpatient-pooling format; null leaves a parameter
open: settlement refuses with `policy_parameter_missing`, naming it, until it is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from .calculator import LEVELS, PHARMACY
from .policy_format import _Checker

KIND = "chronic_special"
GROUPS = ("chronic", "special", "two_diseases")
TALLIES = ("disease", "group")
TERM_KEYS = ("tally", "deductible", "ratio_percent", "retired_bonus", "annual_limit")
OPTIONAL_TERM_KEYS = ("ordinary_pooling_too",)
ON_NEW_EXCLUDED = ("refuse",)
ON_NEW_EXCLUDING = ("end_excluded", "refuse")
PARAMETER_KEYS = ("groups", "diseases", "exclusions", "counts_toward_large_expense_subsidy", "ordinary_pooling_too")


def _terms(check: _Checker, path: str, terms, *, disease: bool) -> None:
    if not isinstance(terms, Mapping):
        check.fail(path, "must be an object")
        return
    allowed = set(TERM_KEYS) | set(OPTIONAL_TERM_KEYS) | ({"scope"} if disease else set())
    for key in set(terms) - allowed:
        check.fail(f"{path}.{key}", "is not a parameter of the format")
    if not disease:
        for key in TERM_KEYS:
            if key not in terms:
                check.fail(f"{path}.{key}", "is required (write null where the document leaves it open)")
    if "tally" in terms and terms["tally"] not in TALLIES:
        check.fail(f"{path}.tally", f"must be one of {list(TALLIES)}")
    if terms.get("ordinary_pooling_too") is not None and not isinstance(terms["ordinary_pooling_too"], bool):
        check.fail(f"{path}.ordinary_pooling_too", "must be true, false or null")
    check.money_cell(f"{path}.deductible", terms.get("deductible"))
    check.money_cell(f"{path}.annual_limit", terms.get("annual_limit"))
    ratio = terms.get("ratio_percent")
    if isinstance(ratio, Mapping):
        for level, value in ratio.items():
            if level not in LEVELS and level != PHARMACY:
                check.fail(f"{path}.ratio_percent.{level}", "is not a level")
            check.percent(f"{path}.ratio_percent.{level}", value)
    else:
        check.percent(f"{path}.ratio_percent", ratio)
    check.percent(f"{path}.retired_bonus", terms.get("retired_bonus"), low=Decimal(-100))
    if disease and terms.get("scope") is not None:
        scope = terms["scope"]
        if not isinstance(scope, list) or not all(isinstance(code, str) and code for code in scope):
            check.fail(f"{path}.scope", "must be null or a list of catalog codes")


def validate_parameters(parameters) -> list[tuple[str, str]]:
    check = _Checker()
    if not isinstance(parameters, Mapping):
        return [("parameters", "must be an object")]
    for key in set(parameters) - set(PARAMETER_KEYS):
        check.fail(key, "is not a parameter of the format")
    groups = parameters.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        check.fail("groups", f"must be an object naming groups among {list(GROUPS)}")
    else:
        for group, terms in groups.items():
            if group not in GROUPS:
                check.fail(f"groups.{group}", f"is not a group; groups are {list(GROUPS)}")
            _terms(check, f"groups.{group}", terms, disease=False)
    diseases = parameters.get("diseases", {})
    if not isinstance(diseases, Mapping):
        check.fail("diseases", "must be an object: disease code → its own terms")
    else:
        for code, terms in diseases.items():
            _terms(check, f"diseases.{code}", terms, disease=True)
    exclusions = parameters.get("exclusions", [])
    if not isinstance(exclusions, list):
        check.fail("exclusions", "must be a list")
    else:
        for index, rule in enumerate(exclusions):
            where = f"exclusions[{index}]"
            if not isinstance(rule, Mapping):
                check.fail(where, "must be an object")
                continue
            for key in ("group", "excluded_by"):
                if rule.get(key) not in GROUPS:
                    check.fail(f"{where}.{key}", f"must be one of {list(GROUPS)}")
            if rule.get("on_new_excluded", "refuse") not in ON_NEW_EXCLUDED:
                check.fail(f"{where}.on_new_excluded", f"must be one of {list(ON_NEW_EXCLUDED)}")
            if rule.get("on_new_excluding", "end_excluded") not in ON_NEW_EXCLUDING:
                check.fail(f"{where}.on_new_excluding", f"must be one of {list(ON_NEW_EXCLUDING)}")
    for key in ("counts_toward_large_expense_subsidy", "ordinary_pooling_too"):
        if parameters.get(key) is not None and not isinstance(parameters.get(key), bool):
            check.fail(key, "must be true, false or null")
    return check.problems


def validate_document(data) -> list[tuple[str, str]]:
    if not isinstance(data, Mapping) or data.get("kind") != KIND:
        return [("kind", f"must be {KIND!r}")]
    problems = []
    if not isinstance(data.get("region"), str):
        problems.append(("region", "is required"))
    diseases = data.get("diseases", [])
    if not isinstance(diseases, list):
        problems.append(("diseases", "must be a list of {code, name, group}"))
    else:
        for index, disease in enumerate(diseases):
            if (
                not isinstance(disease, Mapping) or not isinstance(disease.get("code"), str)
                or not disease.get("code") or not isinstance(disease.get("name"), str)
                or disease.get("group") not in GROUPS
            ):
                problems.append((f"diseases[{index}]", f"must be {{code, name, group}} with group among {list(GROUPS)}"))
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
        problems += [(f"{where}.parameters.{path}", message) for path, message in validate_parameters(version.get("parameters"))]
    return problems
