"""Year-end settlement (年度清算) of a provider paid against a budget: prepared from the year's
approved monthly statements, approved by finance (never the person who prepared it), paid by a
finance officer who did not approve it (Ziyang 第十九条: 会计 and 出纳 differ), audited.

The figures are the calculator's (claims/statements/payment_methods.py, `year_lines`): budget
against actual (Yangzhou 三(二) 总额预算), the overrun's share the agency pays and the underrun's
share the provider keeps (the terms' parameters), and the quality deposit returned by the
provider's credit grade and the agreement's assessment (Ziyang 第二十一条(二): 将考核结果与…挂钩).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import Conflict, DomainError
from core.money import ZERO, to_fen
from pharmacies.models import Provider
from pharmacies.services import provider_credit
from pharmacies.services.payment_terms import payment_terms_for

from ..models import ProviderStatement, YearEndSettlement
from . import payment_methods as pm
from .approval import FinanceFlow, Refusal
from .notifications import year_end_notify


def _year_not_ended(year: int) -> bool:
    return timezone.localdate() < date(year + 1, 1, 1)


@transaction.atomic
def year_end_prepare(*, provider: Provider, year: int, user=None, assessment_percent: Decimal | None = None) -> YearEndSettlement:
    """Prepare (or re-prepare, replacing a draft) the provider's year-end settlement of `year`.
    Refused, naming why, when the year has not ended, the provider has no budget for the year,
    or a monthly statement of the year is still a draft (its figures could change)."""
    year = int(year)
    if _year_not_ended(year):
        raise DomainError(_("A year can be settled only after it has ended."), code="year_not_ended", details={"year": year})
    assessment = Decimal(100) if assessment_percent in (None, "") else to_fen(Decimal(str(assessment_percent)))
    if not (ZERO <= assessment <= 100):
        raise DomainError(_("The assessment result is a percentage from 0 to 100."), code="invalid",
                          details={"assessment_percent": str(assessment_percent)})
    found = payment_terms_for([provider.pk], year).get(provider.pk)
    if found is None or not found.budget:
        raise DomainError(_("The provider's agreement has no budget for the year."), code="no_budget",
                          details={"provider": provider.code, "year": year})
    existing = YearEndSettlement.objects.select_for_update(of=("self",)).filter(provider=provider, year=year).first()
    if existing is not None and existing.status != YearEndSettlement.Status.DRAFT:
        raise Conflict(_("An approved year-end settlement never changes."), code="year_end_frozen",
                       details={"year_end_id": existing.pk, "status": existing.status})
    statements = ProviderStatement.objects.filter(provider=provider, month__year=year)
    drafts = sorted(f"{month:%Y-%m}" for month in statements.filter(status=ProviderStatement.Status.DRAFT)
                    .values_list("month", flat=True))
    if drafts:
        raise Conflict(_("Approve the year's monthly statements first: %(months)s.") % {"months": "、".join(drafts)},
                       code="statements_not_approved", details={"months": drafts})
    totals = statements.aggregate(months=Count("pk"), budget_actual=Sum("budget_actual"), budget_paid=Sum("budget_paid"),
                                  deposit_withheld=Sum("deposit_withheld"))
    # Ziyang 第二十一条(二): the deposit follows the assessment of the year settled, so the credit
    # score of that year (none computed: no grade, nothing returned), never a later year's.
    credit = provider_credit(provider, year=year)
    terms = pm.terms_from_model(found)
    lines = pm.year_lines(terms, pm.YearInputs(
        budget_actual=totals["budget_actual"] or ZERO, budget_paid=totals["budget_paid"] or ZERO,
        deposit_withheld=totals["deposit_withheld"] or ZERO, credit_grade=credit.grade if credit else "",
        assessment_percent=assessment,
    ))
    settlement = existing or YearEndSettlement(provider=provider, year=year)
    settlement.terms = found
    settlement.months = totals["months"]
    for name in ("budget", "budget_actual", "overrun", "overrun_agency", "underrun", "underrun_retained", "recognised",
                 "budget_paid", "budget_balance", "deposit_withheld", "deposit_return_percent", "deposit_returned",
                 "deposit_forfeited"):
        setattr(settlement, name, getattr(lines, name))
    settlement.payable = lines.payable
    settlement.credit_year = credit.year if credit else None
    settlement.credit_score = credit.score if credit else None
    settlement.credit_grade = credit.grade if credit else ""
    settlement.assessment_percent = assessment
    settlement.prepared_at = timezone.now()
    settlement.prepared_by = user
    settlement.save()
    audit(actor=user, action=AuditAction.YEAR_END_PREPARE, target=settlement, provider=provider.code, year=year,
          replaced=existing is not None, payable=str(settlement.payable), credit_grade=settlement.credit_grade,
          deposit_returned=str(settlement.deposit_returned))
    return settlement


@dataclass(frozen=True)
class PrepareResult:
    year: int
    prepared: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


def year_end_prepare_all(*, year: int, user=None) -> PrepareResult:
    """Every provider with a budget for `year`, each in its own transaction (savepoint): one
    provider's refusal (a draft statement) never stops the others; the refusals are listed."""
    prepared, refused = [], []
    for provider_id, terms in sorted(payment_terms_for(None, year).items()):
        if not terms.budget:
            continue
        provider = Provider.objects.get(pk=provider_id)
        try:
            with transaction.atomic():
                year_end_prepare(provider=provider, year=year, user=user)
            prepared.append(provider.code)
        except (DomainError, Conflict) as error:
            refused.append((provider.code, getattr(error, "code", "refused")))
    return PrepareResult(year=year, prepared=tuple(prepared), refused=tuple(refused))


YEAR_END_FLOW = FinanceFlow(
    model=YearEndSettlement, id_key="year_end_id", preparer_field="prepared_by_id",
    not_found=Refusal(_("No such year-end settlement."), "year_end_not_found"),
    not_draft=Refusal(_("Only a draft year-end settlement can be approved."), "year_end_not_draft"),
    not_approved=Refusal(_("Only an approved year-end settlement can be paid."), "year_end_not_approved"),
)


@transaction.atomic
def year_end_approve(*, settlement_id: int, user) -> YearEndSettlement:
    """Finance approves a draft; never the person who prepared it (Ziyang 第十九条). The flow:
    approval.FinanceFlow, shared with the monthly statements."""
    settlement = YEAR_END_FLOW.approve(pk=settlement_id, user=user)
    audit(actor=user, action=AuditAction.YEAR_END_APPROVE, target=settlement, payable=str(settlement.payable))
    year_end_notify(settlement, "year_end_approved")  # issue 16: in this transaction
    return settlement


@transaction.atomic
def year_end_record_payment(*, settlement_id: int, payment_reference: str, user) -> YearEndSettlement:
    """Finance records the payment of an approved year-end settlement; never its approver."""
    settlement = YEAR_END_FLOW.record_payment(pk=settlement_id, payment_reference=payment_reference, user=user)
    audit(actor=user, action=AuditAction.YEAR_END_PAY, target=settlement, payment_reference=settlement.payment_reference)
    year_end_notify(settlement, "year_end_paid")
    return settlement
