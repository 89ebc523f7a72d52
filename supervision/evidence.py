"""A flag's evidence (佐证说明) as people read it: a table of Chinese labels and formatted values.

The monitoring stores the evidence as JSON (supervision.monitoring._raise_flags):
`{"claims": [...], "lines": [...], "parameters": {...}, **details}`, the details being what each
rule of supervision.rules adds (`stay_start`, `platform_price`, `indicator`, ...). Every key any
rule writes has a label here; a key added later without one is shown humanized ("Some key"),
never as its snake_case code. Amounts read ¥12.00, dates 2024-03-08, lists are joined, and the
settlements (and their lines) the evidence names link to their pages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

LABELS = {
    # What every flag carries.
    "claims": _("settlements involved"),
    "lines": _("settlement items involved"),
    "parameters": _("rule parameters applied"),
    # The rules' details (supervision.rules).
    "stay_start": _("inpatient stay began on"),
    "died_on": _("date of death"),
    "previous_lines": _("earlier dispensings still in supply"),
    "max_days": _("maximum days' supply"),
    "visits": _("number of settlements"),
    "pattern": _("pattern found"),
    "platform_price": _("platform price"),
    "restricted_to": _("drug restricted to"),
    "main_lines": _("items that include this one"),
    "quantity": _("quantity charged that day"),
    "allowed": _("quantity allowed a day"),
    "indicator": _("indicator"),
    "total": _("total medical cost"),
    "peer_average": _("peers' average cost per visit"),
    "previous_total": _("previous month's total cost"),
    "self_paid": _("out-of-catalog (fully self-paid) cost"),
    "diseases": _("chronic diseases whose drug list has it"),
    # The rules' parameters (supervision.rules.RULES and COMMON_DEFAULTS).
    "appeal_days": _("appeal window (days)"),
    "include_admission_and_discharge_days": _("admission and discharge days count as the stay"),
    "tolerance_days": _("tolerance (days)"),
    "lookback_days": _("look back (days)"),
    "acute_max_days": _("maximum days' supply, acute illness"),
    "chronic_max_days": _("maximum days' supply, chronic illness"),
    "max_visits_per_month": _("maximum settlements a month"),
    "different_district_only": _("only providers in different districts count"),
    "round_unit": _("round-sum unit"),
    "round_sum_count": _("round-sum purchases a month that raise a flag"),
    "drain_min_amount": _("smallest account payment that drains the account"),
    "self_paid_percent": _("out-of-catalog share of a purchase"),
    "tolerance_percent": _("tolerance above the platform price"),
    "pharmacies_only": _("pharmacies only"),
    "hours_per_day": _("hours counted a day (hourly limits)"),
    "peer_ratio": _("bound as a multiple of the peers' average"),
    "growth_percent": _("month-on-month growth bound"),
    "out_of_catalog_percent": _("out-of-catalog share bound"),
    "min_visits": _("fewest visits a month to be judged"),
}

CHOICES = {
    "pattern": {"drain": _("account drained to zero"), "self_paid": _("mostly items outside the catalog"),
                "round_sum": _("repeated round-sum purchases")},
    "indicator": {"avg_cost": _("average cost per visit"), "growth": _("month-on-month cost growth"),
                  "out_of_catalog": _("out-of-catalog share")},
    "restricted_to": {"M": _("male"), "F": _("female")},
}

MONEY = {"platform_price", "total", "peer_average", "previous_total", "self_paid", "round_unit", "drain_min_amount"}
PERCENT = {"self_paid_percent", "tolerance_percent", "growth_percent", "out_of_catalog_percent"}
DATES = {"stay_start", "died_on"}
LINE_LISTS = {"lines", "previous_lines", "main_lines"}
# The order the rows are shown in: what the rule found first, then what it names, then its settings.
LAST = ("claims", "lines", "parameters")


def label(key: str) -> str:
    """The key's Chinese label; an unknown key humanized (some_key → "Some key"), never raw."""
    if key in LABELS:
        return str(LABELS[key])
    return capfirst(str(key).replace("_", " ").replace(".", " ").strip()) or "-"


def money(value) -> str:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"¥{amount:,.2f}"


def _number(value) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{number.normalize():f}"  # 5.0000 → 5, 1.50 → 1.5


def _date(value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        return str(value)


def _plain(value) -> str:
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if value is None or value == "":
        return "-"
    if isinstance(value, (int, float, Decimal)):
        return _number(value)
    if isinstance(value, (list, tuple)):
        return "、".join(_plain(item) for item in value) or "-"
    if isinstance(value, dict):
        return "；".join(f"{label(k)}：{_plain(v)}" for k, v in value.items()) or "-"
    return str(value)


class _Lookups:
    """The settlements, lines and diseases an evidence names, read once (a few rows)."""

    def __init__(self, evidence: dict, settlement_url: Callable[[object], str | None] | None, provider_id=None):
        from django.conf import settings

        from claims.models import Claim, ClaimLine, Disease

        ids = lambda values: {v for v in values or () if isinstance(v, int) and not isinstance(v, bool)}  # noqa: E731
        line_ids = set().union(*(ids(evidence.get(key)) for key in LINE_LISTS))
        lines = ClaimLine.objects.filter(pk__in=line_ids).select_related("claim", "catalog_item")
        claims = Claim.objects.filter(pk__in=ids(evidence.get("claims")) | {line.claim_id for line in lines})
        if provider_id is not None:  # a provider reads its own settlements only
            lines, claims = lines.filter(claim__provider_id=provider_id), claims.filter(provider_id=provider_id)
        self.lines = {line.pk: line for line in lines}
        self.claims = {claim.pk: claim for claim in claims}
        codes = [code for code in evidence.get("diseases") or () if isinstance(code, str)]
        self.diseases = dict(Disease.objects.filter(region=settings.REGION, code__in=codes).values_list("code", "name")) if codes else {}
        self.settlement_url = settlement_url or (lambda claim: None)
        self.own_only = provider_id is not None

    def claim(self, pk) -> SafeString:
        claim = self.claims.get(pk)
        if claim is None:
            return format_html("{}", gettext("settlement %(number)s") % {"number": pk})
        text = gettext("%(ref)s of %(day)s, %(total)s") % {
            "ref": claim.external_ref, "day": _date(claim.visit_date), "total": money(claim.total)}
        url = self.settlement_url(claim)
        return format_html('<a href="{}">{}</a>', url, text) if url else format_html("{}", text)

    def line(self, pk) -> SafeString:
        line = self.lines.get(pk)
        if line is None:
            return format_html("{}", gettext("item %(number)s") % {"number": pk})
        text = gettext("%(item)s × %(quantity)s, %(amount)s (%(ref)s of %(day)s)") % {
            "item": line.catalog_item.name or line.catalog_item.code, "quantity": _number(line.quantity),
            "amount": money(line.amount), "ref": line.claim.external_ref, "day": _date(line.claim.visit_date)}
        url = self.settlement_url(line.claim)
        return format_html('<a href="{}">{}</a>', url, text) if url else format_html("{}", text)


def _items(values: list, known: dict, render, own_only: bool) -> SafeString:
    """Settlements or items, one a line; a provider sees only its own, and how many are another's."""
    shown = [pk for pk in values if pk in known or not own_only]
    html = format_html_join(mark_safe("<br>"), "{}", ((render(pk),) for pk in shown))
    others = len(values) - len(shown)
    if others:
        note = gettext("%(count)s at other providers") % {"count": others}
        html = format_html("{}<br>{}", html, note) if html else format_html("{}", note)
    return html or mark_safe("-")


def value_html(key: str, value, lookups: _Lookups) -> SafeString:
    """One evidence value, formatted by what its key holds."""
    if key == "claims" and isinstance(value, list):
        return _items(value, lookups.claims, lookups.claim, lookups.own_only)
    if key in LINE_LISTS and isinstance(value, list):
        return _items(value, lookups.lines, lookups.line, lookups.own_only)
    if key == "parameters" and isinstance(value, dict):
        return parameters_html(value, lookups)
    if key == "diseases" and isinstance(value, list):
        names = [f"{lookups.diseases[c]}（{c}）" if c in lookups.diseases else str(c) for c in value]
        return format_html("{}", "、".join(names) or "-")
    if key in CHOICES and str(value) in CHOICES[key]:
        return format_html("{}", CHOICES[key][str(value)])
    if key in MONEY:
        return format_html("{}", money(value))
    if key in PERCENT:
        return format_html("{}%", _number(value))
    if key in DATES:
        return format_html("{}", _date(value))
    return format_html("{}", _plain(value))


def parameters_html(parameters: dict, lookups: _Lookups) -> SafeString:
    if not parameters:
        return mark_safe("-")
    rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", (
        (label(key), value_html(key, value, lookups)) for key, value in parameters.items()))
    return format_html('<table class="evidence-parameters">{}</table>', rows)


def evidence_rows(evidence: dict, *, settlement_url=None, provider_id=None, leave_out=()) -> list[tuple[str, SafeString]]:
    """(label, value) pairs for an evidence: the rule's findings first, then the settlements and
    items it names, then the parameters it ran with. With `provider_id` (the portal), only that
    provider's settlements and items are named."""
    if not isinstance(evidence, dict):
        return [(str(LABELS["parameters"]), format_html("{}", _plain(evidence)))] if evidence else []
    lookups = _Lookups(evidence, settlement_url, provider_id)
    keys = [key for key in evidence if key not in LAST] + [key for key in LAST if key in evidence]
    keys = [key for key in keys if key not in leave_out]
    return [(label(key), value_html(key, evidence[key], lookups)) for key in keys
            if not (key in LAST and not evidence[key])]


def evidence_table(evidence: dict, *, settlement_url=None, provider_id=None, leave_out=()) -> SafeString:
    rows = evidence_rows(evidence, settlement_url=settlement_url, provider_id=provider_id, leave_out=leave_out)
    if not rows:
        return mark_safe("-")
    body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
    return format_html('<table class="evidence">{}</table>', body)
