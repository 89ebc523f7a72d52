"""Chronic and special diseases (门诊慢特病, 两病): pure rules. No ORM, no settings.

- `terms_for`: a disease's deductible, ratio, yearly limit, tally and scope under one policy
  version (claims/chronic_format.py): the disease's own terms win over its group's, key by key.
- `exclusion`: what a new registration does to the member's others (Ziyang 第九条).
- `settle_chronic`: one chronic visit against the member's tally for the disease or group.

Rounding (core.money.to_fen, half up) happens at the steps of the pooling calculator that
are reused (R1–R3 in `calculator.price_lines`) and at:
  C1  the fund amount: (in-scope policy amount − deductible) × ratio;
  C2  the large-amount subsidy: the burden above the threshold × subsidy ratio (Jinan (七)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from core.money import ZERO, to_fen

from . import calculator as calc

HUNDRED = Decimal(100)
OUTSIDE_DISEASE_SCOPE = "outside_disease_scope"


@dataclass(frozen=True)
class ChronicTerms:
    tally: str  # "disease:<code>" or "group:<group>"
    deductible: Decimal
    ratio: Decimal  # percent
    limit: Decimal
    scope: frozenset[str] | None  # None: every policy-scope item


@dataclass(frozen=True)
class TallySoFar:
    deductible_met: Decimal = ZERO
    fund_paid: Decimal = ZERO


@dataclass(frozen=True)
class LargeExpense:
    """Jinan (七): the year's compliant burden so far (outpatient, chronic included, plus the
    imported inpatient burden), the threshold and the subsidy's ratio."""

    burden_so_far: Decimal
    inpatient_burden: Decimal
    threshold: Decimal
    ratio: Decimal | None


@dataclass(frozen=True)
class ChronicLine:
    line: calc.LineResult
    in_scope: bool
    reason: str | None


@dataclass(frozen=True)
class ChronicResult:
    lines: tuple[ChronicLine, ...]
    total: Decimal
    fully_self_paid: Decimal
    over_limit: Decimal
    class_b_prepay: Decimal
    policy_scope: Decimal  # of the in-scope lines only
    out_of_scope: Decimal
    deductible: Decimal
    ratio: Decimal
    fund: Decimal
    large_expense_subsidy: Decimal
    large_expense_burden_added: Decimal
    large_expense_pending_base: Decimal  # Jinan (七) with the ratio open: held for a batch
    personal_burden: Decimal
    account: Decimal
    family_account: Decimal
    cash: Decimal
    balance_after: Decimal | None
    denied_reason: str | None
    tally: TallySoFar  # after this visit
    limit: Decimal


def _override(group_terms: Mapping, disease_terms: Mapping, key: str):
    return disease_terms[key] if key in disease_terms else group_terms.get(key)


def terms_for(
    parameters: Mapping, *, code: str, group: str, level: str, member: calc.MemberSituation, reference: Mapping
) -> ChronicTerms:
    """The disease's terms; an open (null) parameter raises PolicyParameterMissing naming it."""
    group_terms = (parameters.get("groups") or {}).get(group)
    if group_terms is None:
        raise calc.PolicyParameterMissing(f"groups.{group}")
    disease_terms = (parameters.get("diseases") or {}).get(code) or {}

    def where(key):
        return f"diseases.{code}.{key}" if key in disease_terms else f"groups.{group}.{key}"

    tally_kind = _override(group_terms, disease_terms, "tally") or "disease"
    tally = f"disease:{code}" if tally_kind == "disease" else f"group:{group}"
    deductible = calc.resolve_money(_override(group_terms, disease_terms, "deductible"), where("deductible"), member, reference)
    limit = calc.resolve_money(_override(group_terms, disease_terms, "annual_limit"), where("annual_limit"), member, reference)
    ratio_cell = _override(group_terms, disease_terms, "ratio_percent")
    if isinstance(ratio_cell, Mapping):
        key = calc._level_key(ratio_cell, level)
        ratio_cell = ratio_cell.get(key)
        if ratio_cell is None:
            raise calc.PolicyParameterMissing(f"{where('ratio_percent')}.{key}")
    if ratio_cell is None:
        raise calc.PolicyParameterMissing(where("ratio_percent"))
    ratio = Decimal(str(ratio_cell))
    if member.employment_status == calc.RETIRED:
        ratio += Decimal(str(_override(group_terms, disease_terms, "retired_bonus") or 0))
    scope = disease_terms.get("scope")
    return ChronicTerms(
        tally=tally,
        deductible=deductible,
        ratio=max(ZERO, min(HUNDRED, ratio)),
        limit=limit,
        scope=frozenset(scope) if scope is not None else None,
    )


# ---------------------------------------------------------------------------------------
# Ordinary pooling too? (ordinary_pooling_too)


def ordinary_pooling_too(parameters: Mapping, *, code: str, group: str) -> bool:
    """Whether the costs of a registered disease may ALSO be settled through ordinary outpatient
    pooling: the disease's own key, else its group's, else the version's; absent everywhere,
    yes (Zaozhuang 第十一条: both benefits at once; Yangzhou 二(四)1–2: chronic, special and
    ordinary costs each settled by its own standard)."""
    disease_terms = (parameters.get("diseases") or {}).get(code) or {}
    group_terms = (parameters.get("groups") or {}).get(group) or {}
    for node in (disease_terms, group_terms, parameters):
        value = node.get("ordinary_pooling_too") if isinstance(node, Mapping) else None
        if value is not None:
            return bool(value)
    return True


@dataclass(frozen=True)
class PoolingConflict:
    disease_code: str
    named: bool  # the pooling request names the disease (disease_code)
    item_positions: tuple[int, ...]  # the visit's items (from 0) within the disease's scope


def pooling_conflict(
    parameters: Mapping, *, registered: list[tuple[str, str]], disease_code: str | None, item_codes: list[str]
) -> PoolingConflict | None:
    """A pooling settlement is "for" a registered disease whose costs may not also use ordinary
    pooling (ordinary_pooling_too false) when it names the disease (`disease_code`, the
    visit's diagnosis) or when one of its items is in the disease's `scope` (the drugs or
    services the disease's benefit pays for): those costs belong to the disease's own benefit
    (Ziyang 第九条: 不得重复享受待遇). A disease with no scope is recognised by its code only.
    `registered`: (code, group) of the member's approved registrations covering the visit."""
    for code, group in registered:
        if ordinary_pooling_too(parameters, code=code, group=group):
            continue
        if disease_code and disease_code == code:
            return PoolingConflict(disease_code=code, named=True, item_positions=())
        scope = ((parameters.get("diseases") or {}).get(code) or {}).get("scope")
        if scope:
            positions = tuple(index for index, item in enumerate(item_codes) if item in scope)
            if positions:
                return PoolingConflict(disease_code=code, named=False, item_positions=positions)
    return None


# ---------------------------------------------------------------------------------------
# Registrations: exclusions between groups


REFUSE, END_EXCLUDED = "refuse", "end_excluded"


@dataclass(frozen=True)
class ExclusionDecision:
    refused_by_group: str | None  # the new registration is refused: the member holds this group
    ends_groups: tuple[str, ...]  # the member's registrations of these groups end


def exclusion(parameters: Mapping, *, new_group: str, held_groups: set[str]) -> ExclusionDecision:
    """Ziyang 第九条: a 两病 patient who meets a special-disease standard is managed as a special
    disease and may not enjoy both (不得重复享受待遇). As data: {"group": "two_diseases",
    "excluded_by": "special"}: a new 两病 registration is refused while a special one is held;
    a new special registration ends the 两病 one (or is refused, `on_new_excluding`)."""
    ends: list[str] = []
    for rule in parameters.get("exclusions") or []:
        if rule["group"] == new_group and rule["excluded_by"] in held_groups:
            return ExclusionDecision(refused_by_group=rule["excluded_by"], ends_groups=())
        if rule["excluded_by"] == new_group and rule["group"] in held_groups:
            if rule.get("on_new_excluding", END_EXCLUDED) == REFUSE:
                return ExclusionDecision(refused_by_group=rule["group"], ends_groups=())
            ends.append(rule["group"])
    return ExclusionDecision(refused_by_group=None, ends_groups=tuple(ends))


# ---------------------------------------------------------------------------------------
# Settlement


def settle_chronic(
    lines: tuple[calc.LineInput, ...],
    member: calc.MemberSituation,
    terms: ChronicTerms,
    tally: TallySoFar,
    *,
    large_expense: LargeExpense | None = None,
    use_account: bool = False,
    family_payer: bool = False,
    account_balance: Decimal | None = None,
    fund_maximum_left: Decimal | None = None,
) -> ChronicResult:
    """One chronic or special disease visit.

    Yangzhou 二(四)2: chronic, special and ordinary costs are each settled by their own
    standard: this visit uses only the disease's terms and its own tally (never the
    outpatient-pooling year). Zaozhuang 第十一条: both benefits may be enjoyed, so nothing here
    reads or changes the ordinary year. Items outside the disease's scope (a drug or service
    list the agency restricts the disease to) are the member's own burden, with the reason.
    """
    priced = calc.price_lines(lines)
    chronic_lines = tuple(
        ChronicLine(
            line=line,
            in_scope=terms.scope is None or line.code in terms.scope,
            reason=None if terms.scope is None or line.code in terms.scope else OUTSIDE_DISEASE_SCOPE,
        )
        for line in priced
    )
    total = sum((line.amount for line in priced), ZERO)
    fully_self_paid = sum((line.fully_self_paid for line in priced), ZERO)
    over_limit = sum((line.over_limit for line in priced), ZERO)
    in_scope = [c.line for c in chronic_lines if c.in_scope]
    class_b_prepay = sum((line.class_b_prepay for line in in_scope), ZERO)
    policy_scope = sum((line.policy_scope for line in in_scope), ZERO)
    out_of_scope = sum((c.line.amount for c in chronic_lines if not c.in_scope), ZERO)

    denied = calc.DENIED_MEMBER_DECEASED if member.deceased else (None if member.active else calc.DENIED_MEMBER_INACTIVE)
    deductible = fund = subsidy = burden_added = pending = ZERO
    ratio = ZERO
    if denied is None:
        deductible = min(policy_scope, max(ZERO, terms.deductible - tally.deductible_met))
        ratio = terms.ratio
        fund = to_fen((policy_scope - deductible) * ratio / HUNDRED)  # C1
        # The disease's (or group's) yearly limit is never passed.
        fund = max(ZERO, min(fund, terms.limit - tally.fund_paid))
        if fund_maximum_left is not None:
            # Ziyang 第十一条: chronic and special disease payments count toward the pooled
            # fund's yearly maximum too (calculator.fund_maximum_left): never past it.
            fund = min(fund, fund_maximum_left)
        if large_expense is not None:
            # Jinan (七): the personal burden of chronic/special costs counts, with ordinary
            # pooling's and the inpatient system's, toward the large-amount second payment
            # (compliant burden: in-scope policy costs the fund did not pay plus the class-B
            # first self-paid share; never amounts above payment standards, outside the
            # catalog or outside the disease's scope).
            burden_added = policy_scope + class_b_prepay - fund
            counted = large_expense.burden_so_far + large_expense.inpatient_burden
            before = max(ZERO, counted - large_expense.threshold)
            after = max(ZERO, counted + burden_added - large_expense.threshold)
            if after > before:
                if large_expense.ratio is None:
                    # Jinan (七) fixes the threshold, not the ratio: as in pooling (calculator
                    # R8), the fund's share settles and the burden above the threshold is
                    # held as pending, paid by an approved batch once the ratio is set.
                    pending = after - before
                else:
                    subsidy = to_fen((after - before) * large_expense.ratio / HUNDRED)  # C2

    personal_burden = total - fund - subsidy
    account = family_account = ZERO
    balance_after = account_balance
    if (
        (use_account or family_payer) and account_balance is not None and denied is None
        and (family_payer or member.scheme == calc.COMBINED)
    ):
        # As in pooling (rules.md §3.2 reading): the account may pay the personal burden.
        paid = min(personal_burden, account_balance)
        balance_after = account_balance - paid
        if family_payer:
            family_account = paid
        else:
            account = paid
    return ChronicResult(
        lines=chronic_lines,
        total=total,
        fully_self_paid=fully_self_paid,
        over_limit=over_limit,
        class_b_prepay=class_b_prepay,
        policy_scope=policy_scope,
        out_of_scope=out_of_scope,
        deductible=deductible,
        ratio=ratio,
        fund=fund,
        large_expense_subsidy=subsidy,
        large_expense_burden_added=burden_added,
        large_expense_pending_base=pending,
        personal_burden=personal_burden,
        account=account,
        family_account=family_account,
        cash=personal_burden - account - family_account,
        balance_after=balance_after,
        denied_reason=denied,
        tally=TallySoFar(deductible_met=tally.deductible_met + deductible, fund_paid=tally.fund_paid + fund),
        limit=terms.limit,
    )
