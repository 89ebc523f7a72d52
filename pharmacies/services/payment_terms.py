"""An agreement's payment terms for a year (支付方式: Zaozhuang 第十六条, Ziyang 第二十二条,
Yangzhou 三(二), Jinan (十六)): set by a case worker, checked field by field, audited."""

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError
from core.money import to_fen
from core.roles import Role, require_role

from ..models import Agreement, PaymentTerms

TERM_FIELDS = (
    "budget", "capitation", "per_disease", "budget_amount", "budget_schedule", "deposit_percent",
    "overrun_provider_percent", "underrun_retained_percent", "deposit_return_percent", "capitation_rate",
    "disease_standards",
)
GRADES = ("A", "B", "C", "D")


def _amount(value, *, field: str, key: str | None = None) -> Decimal:
    where = f"{field}.{key}" if key is not None else field
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise DomainError(_("Not an amount: %(value)s.") % {"value": value}, code="invalid", details={where: str(value)}) from None
    if not amount.is_finite() or amount < 0 or amount != to_fen(amount) or amount >= Decimal(10) ** 12:
        raise DomainError(_("%(value)s: enter a non-negative amount in yuan, to the fen.") % {"value": value}, code="invalid",
                          details={where: str(value)})
    return amount


def _percent(value, *, field: str) -> Decimal:
    amount = _amount(value, field=field)
    if amount > 100:
        raise DomainError(_("%(value)s: enter a percentage from 0 to 100.") % {"value": value}, code="invalid",
                          details={field: str(value)})
    return amount


def payment_terms_clean(values: dict) -> dict:
    """The terms as stored, or a DomainError naming the field (and the key within it)."""
    cleaned = {name: values.get(name) for name in TERM_FIELDS}
    for flag in ("budget", "capitation", "per_disease"):
        cleaned[flag] = bool(cleaned[flag])
    for name in ("deposit_percent", "overrun_provider_percent", "underrun_retained_percent"):
        default = Decimal(100) if name == "overrun_provider_percent" else Decimal(0)
        cleaned[name] = _percent(default if cleaned[name] in (None, "") else cleaned[name], field=name)
    if cleaned["budget"]:
        if cleaned["budget_amount"] in (None, ""):
            raise DomainError(_("A budget needs the yearly budget amount."), code="invalid", details={"budget_amount": ""})
        cleaned["budget_amount"] = _amount(cleaned["budget_amount"], field="budget_amount")
    else:
        cleaned["budget_amount"] = None if cleaned["budget_amount"] in (None, "") else _amount(cleaned["budget_amount"], field="budget_amount")
    schedule = cleaned["budget_schedule"] or []
    if schedule:
        if not isinstance(schedule, list) or len(schedule) != 12:
            raise DomainError(_("The monthly budget schedule has twelve amounts, January first."), code="invalid",
                              details={"budget_schedule": len(schedule) if isinstance(schedule, list) else str(schedule)})
        amounts = [_amount(value, field="budget_schedule", key=str(index + 1)) for index, value in enumerate(schedule)]
        if cleaned["budget_amount"] is not None and sum(amounts) != cleaned["budget_amount"]:
            raise DomainError(_("The monthly budget schedule adds up to %(sum)s, not the yearly budget %(budget)s.")
                              % {"sum": sum(amounts), "budget": cleaned["budget_amount"]}, code="invalid",
                              details={"budget_schedule": str(sum(amounts))})
        schedule = [f"{amount:.2f}" for amount in amounts]
    cleaned["budget_schedule"] = schedule
    returns = cleaned["deposit_return_percent"] or {}
    if not isinstance(returns, dict):
        raise DomainError(_("The deposit returns are a table of credit grade to percentage."), code="invalid",
                          details={"deposit_return_percent": str(returns)})
    for grade in returns:
        if grade not in GRADES:
            raise DomainError(_("Unknown credit grade %(grade)s (A, B, C or D).") % {"grade": grade}, code="invalid",
                              details={f"deposit_return_percent.{grade}": "unknown_grade"})
    cleaned["deposit_return_percent"] = {
        grade: f"{_percent(value, field=f'deposit_return_percent.{grade}'):.2f}" for grade, value in returns.items()
    }
    if cleaned["capitation"]:
        if cleaned["capitation_rate"] in (None, ""):
            raise DomainError(_("Capitation needs the rate per member and month."), code="invalid", details={"capitation_rate": ""})
    cleaned["capitation_rate"] = None if cleaned["capitation_rate"] in (None, "") else _amount(cleaned["capitation_rate"], field="capitation_rate")
    standards = cleaned["disease_standards"] or {}
    if not isinstance(standards, dict):
        raise DomainError(_("The per-disease standards are a table of disease code to amount."), code="invalid",
                          details={"disease_standards": str(standards)})
    if cleaned["per_disease"] and not standards:
        raise DomainError(_("Per-disease payment needs at least one disease standard."), code="invalid",
                          details={"disease_standards": ""})
    cleaned["disease_standards"] = {
        str(code).strip(): f"{_amount(value, field='disease_standards', key=str(code)):.2f}" for code, value in standards.items()
    }
    return cleaned


@transaction.atomic
def payment_terms_set(*, agreement: Agreement, year: int, values: dict, actor) -> PaymentTerms:
    """Create or replace the agreement's terms for `year` (a case worker: terms are part of the
    agreement). The year must fall within the agreement's period."""
    require_role(actor, Role.CASE_WORKER)
    if not (agreement.period_from.year <= int(year) <= agreement.period_to.year):
        raise DomainError(_("The year is outside the agreement's period."), code="invalid",
                          details={"year": year, "period_from": agreement.period_from.isoformat(),
                                   "period_to": agreement.period_to.isoformat()})
    cleaned = payment_terms_clean(values)
    terms = PaymentTerms.objects.select_for_update(of=("self",)).filter(agreement=agreement, year=year).first()
    created = terms is None
    if created:
        terms = PaymentTerms(agreement=agreement, year=year, created_by=actor)
    for name, value in cleaned.items():
        setattr(terms, name, value)
    terms.save()
    audit(actor=actor, action=AuditAction.PAYMENT_TERMS_SET, target=terms, provider=agreement.provider_id, year=int(year),
          created=created, methods=[name for name in ("budget", "capitation", "per_disease") if cleaned[name]] or ["per_item"],
          **{name: str(cleaned[name]) for name in ("budget_amount", "deposit_percent", "capitation_rate")})
    return terms


def payment_terms_for(provider_ids, year: int, day=None) -> dict:
    """provider_id → the PaymentTerms of the year of its agreement covering `day` (default: any
    agreement of the provider with terms for the year, the latest period wins); every provider's
    with provider_ids None."""
    queryset = PaymentTerms.objects.filter(year=year, agreement__provider__isnull=False)
    if provider_ids is not None:
        queryset = queryset.filter(agreement__provider_id__in=provider_ids)
    if day is not None:
        queryset = queryset.filter(agreement__period_from__lte=day, agreement__period_to__gte=day)
    # A signed agreement never brought into force pays nothing under its terms.
    queryset = queryset.exclude(agreement__status=Agreement.Status.SIGNED)
    found = {}
    for terms in queryset.select_related("agreement").order_by("agreement__period_from", "pk"):
        found[terms.agreement.provider_id] = terms
    return found
