"""Words for the members app's codes that are data rather than model choices: why a credit run
skipped a member, and what a ledger entry's reference points to."""

from django.utils.translation import gettext_lazy as _

SKIP_REASONS = {
    "account_closed": _("account closed"),
    "member_inactive": _("insurance not in force"),
    "not_enrolled": _("not enrolled in the month"),
    "no_rule": _("no credit rule applies"),
    "pooled_only": _("pooled only (no personal account)"),
    "no_account": _("no personal account"),
    "no_civil_servant_base": _("civil-servant base missing"),
    "no_contribution_base": _("contribution base missing"),
    "no_pension": _("pension missing"),
    "no_prior_year_credits": _("no credits in the named year"),
    # Region policies (members/policies/*.json) name their own reasons.
    "no_account_before_2023": _("no account before 2023 (Zaozhuang 第七条)"),
    "no_account_flexible_in_service": _("flexible employment in service: no account (Zaozhuang 第七条(二))"),
}

REFERENCE_KINDS = {
    "claim": _("settlement"),
    "credit_run": _("monthly credit run"),
    "decision": _("account decision"),
    "premium": _("premium"),
    "import": _("import"),
}


def skip_reason_label(reason: str) -> str:
    return str(SKIP_REASONS.get(reason, reason))


def reference_label(reference: str) -> str:
    """"credit_run:3" → 月度划入批次 3; a reference of another form as it is."""
    kind, _sep, number = (reference or "").partition(":")
    if kind in REFERENCE_KINDS and number:
        return f"{REFERENCE_KINDS[kind]} {number}"
    return reference or ""
