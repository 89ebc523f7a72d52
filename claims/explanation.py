"""Why a settlement paid what it paid: the calculation in words, step by step, each step with
the article it rests on (issue 16). Pure: it reads the settlement's own figures (the response
the provider received) and never recomputes or touches the database, so the words can never
disagree with the amounts.

The admin's settlement page, the portal and the API response (`explanation`) show the same
steps; the national gateway's `setl_proc_info` carries their text.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

ZERO = Decimal("0.00")

# Where each step of the calculation rests, per region (the same articles the calculator
# cites in its comments; see claims/calculator.py).
CITATIONS: dict[str, dict[str, str]] = {
    "zaozhuang": {
        "temporary": "枣庄 第六条", "deductible": "枣庄 第五条(一)", "ratio": "枣庄 第五条(二)",
        "cap": "枣庄 第五条(三)", "account": "枣庄 第八条",
        "denied.inpatient_stay": "枣庄 第十一条", "denied.ltc_medical_care": "枣庄 第十一条",
    },
    "ziyang": {
        "deductible": "资阳 第八条(一)", "ratio": "资阳 第八条(一)", "cap": "资阳 第八条(一)",
        "account": "资阳 第六条",
    },
    "henan": {
        "deductible": "河南 第三章", "ratio": "河南 第三章", "cap": "河南 第三章",
        "denied.provider_not_covered": "河南 第三章",
    },
    "yangzhou": {
        "deductible": "扬州 二(一)2(1)", "ratio": "扬州 二(一)2(2)", "cap": "扬州 二(一)2(3)",
        "account": "扬州 二(三)2",
    },
    "jinan": {
        "temporary": "济南 (五)", "deductible": "济南 (四)", "ratio": "济南 (二)", "cap": "济南 (三)",
        "subsidy": "济南 (七)", "account": "济南 (十五)",
    },
}

DENIED_REASON_LABELS = {
    "inpatient_stay": gettext_lazy("the member is in an inpatient stay"),
    "ltc_medical_care": gettext_lazy("the member is in long-term-care medical special care"),
    "member_inactive": gettext_lazy("the member's insurance is not in force"),
    "member_deceased": gettext_lazy("the member is deceased"),
    "provider_not_covered": gettext_lazy("this provider is not in outpatient pooling"),
}


@dataclass(frozen=True)
class Step:
    key: str
    text: str
    article: str = ""

    def as_dict(self) -> dict:
        return {"step": self.key, "text": self.text, "article": self.article}


def _money(figures: dict, key: str) -> Decimal:
    value = figures.get(key)
    return Decimal(str(value)) if value not in (None, "") else ZERO


def percent(ratio: Decimal | None) -> str:
    """A percentage as people write it: 70, 85, 62.5 (never Decimal's exponent form, 7E+1)."""
    if not ratio:
        return "0"
    return format(ratio.normalize(), "f")


def explain(figures: dict, region: str, benefit: str = "outpatient_pooling") -> list[Step]:
    """The steps of one settlement from its response figures (strings or Decimals)."""
    if benefit == "personal_account":
        return _explain_account_only(figures, CITATIONS.get(region, {}).get("account", ""))
    cite = CITATIONS.get(region, {})
    m = {key: _money(figures, key) for key in (
        "total", "fully_self_paid", "over_limit", "class_b_prepay", "policy_scope", "temporary_visit_prepay",
        "deductible", "ratio", "fund", "large_expense_subsidy", "personal_burden", "account", "family_account",
        "cash", "balance_after",
    )}
    year = figures.get("year") or {}
    steps = [Step("lines", _(
        "Medical costs %(total)s: %(fully)s outside the catalog or fully self-paid, %(over)s above payment "
        "standards, %(prepay)s class-B first self-paid share; %(scope)s is within the policy scope."
    ) % {"total": m["total"], "fully": m["fully_self_paid"], "over": m["over_limit"],
         "prepay": m["class_b_prepay"], "scope": m["policy_scope"]})]

    denied = figures.get("denied_reason")
    if denied:
        reason = DENIED_REASON_LABELS.get(denied, denied)
        steps.append(Step("denied", _("Outpatient pooling did not pay: %(reason)s.") % {"reason": reason},
                          cite.get(f"denied.{denied}", "")))
    else:
        if m["temporary_visit_prepay"]:
            steps.append(Step("temporary", _(
                "A temporary visit outside the region: the member first pays %(prepay)s of the policy-scope amount."
            ) % {"prepay": m["temporary_visit_prepay"]}, cite.get("temporary", "")))
        met_after = _money(year, "deductible_met")
        steps.append(Step("deductible", _(
            "Deductible: %(due)s counted on this visit; %(met)s met this year after it."
        ) % {"due": m["deductible"], "met": met_after}, cite.get("deductible", "")))
        base = m["policy_scope"] - m["temporary_visit_prepay"] - m["deductible"]
        steps.append(Step("ratio", _(
            "The fund pays %(ratio)s%% of the %(base)s above the deductible."
        ) % {"ratio": percent(m["ratio"]), "base": base}, cite.get("ratio", "")))
        cap, remaining = _money(year, "cap"), _money(year, "cap_remaining")
        steps.append(Step("cap", _(
            "Annual cap %(cap)s: the fund paid %(fund)s on this visit; %(remaining)s of the cap is left."
        ) % {"cap": cap, "fund": m["fund"], "remaining": remaining}, cite.get("cap", "")))
        if m["large_expense_subsidy"]:
            steps.append(Step("subsidy", _(
                "The large-amount subsidy paid %(subsidy)s: the year's compliant personal burden passed its threshold."
            ) % {"subsidy": m["large_expense_subsidy"]}, cite.get("subsidy", "")))

    steps.append(Step("burden", _("Personal burden: %(burden)s.") % {"burden": m["personal_burden"]}))
    if m["account"] or m["family_account"]:
        steps.append(Step("account", _(
            "The personal account paid %(account)s and a relative's account (family sharing) %(family)s; "
            "cash %(cash)s."
        ) % {"account": m["account"], "family": m["family_account"], "cash": m["cash"]}, cite.get("account", "")))
    else:
        steps.append(Step("cash", _("Paid in cash: %(cash)s.") % {"cash": m["cash"]}))
    return steps


def _explain_account_only(figures: dict, article: str) -> list[Step]:
    """An account-only settlement (claims/account_calculator.py): no pooling step applies; the
    region's article on what the account pays (Zaozhuang 第八条 and its peers)."""
    m = {key: _money(figures, key) for key in (
        "total", "other_insurance_paid", "not_account_payable", "personal_burden", "account", "family_account", "cash")}
    steps = [Step("account_only", _(
        "Medical costs %(total)s, paid by the personal account only: the pooled fund pays nothing."
    ) % {"total": m["total"]}, article)]
    if m["other_insurance_paid"]:
        steps.append(Step("other_insurance", _("The person's own insurance paid %(other)s first.") % {"other": m["other_insurance_paid"]}))
    if m["not_account_payable"]:
        steps.append(Step("not_account_payable", _(
            "%(amount)s of items the personal account may not pay (health-care products, fitness, public health) is paid in cash."
        ) % {"amount": m["not_account_payable"]}, article))
    steps.append(Step("burden", _("Personal burden: %(burden)s.") % {"burden": m["personal_burden"]}))
    steps.append(Step("account", _(
        "The personal account paid %(account)s and a relative's account (family sharing) %(family)s; "
        "cash %(cash)s."
    ) % {"account": m["account"], "family": m["family_account"], "cash": m["cash"]}, article))
    return steps


def explanation_text(steps: list[Step]) -> str:
    """One line per step, with its article: the national interface's `setl_proc_info`."""
    return "\n".join(f"{step.text}（{step.article}）" if step.article else step.text for step in steps)
