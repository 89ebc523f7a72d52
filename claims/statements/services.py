"""Monthly settlement with providers (清算), deductions and reconciliation (对账).

Months are keyed by WHEN money moved, in Asia/Shanghai local time: a settlement belongs to the
month of its `settled_at`, a reversal to the month of its `reversed_at`. Not by visit_date: a
provider may settle a visit days later (or back-date it), so keying by visit_date would let new
activity fall into a month whose statement is already approved. Keyed by settlement time, a
closed month can receive nothing new once it has ended (close_month refuses a month that has
not), so an approved statement never changes; a settlement made in March and reversed in April
is a settlement on March's statement and a reversal (a negative line) on April's: "a late
reversal lands on the next month's statement".

Everything is computed in the database: one aggregate query grouped by provider for the
settlements, one for the reversals, one for the deductions; no claim is loaded into Python.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError
from core.money import ZERO, MoneyField, to_fen
from members.models import PrimaryCareRegistration
from pharmacies.models import Provider
from pharmacies.services.payment_terms import payment_terms_for

from ..funds import FUND_FIELDS, FUNDS, REVERSED_FUND_FIELDS, funds_expression
from ..models import Claim, ClaimLine, Deduction, ProviderStatement, Reconciliation
from ..services import CROSS_REGION_SUBMITTER
from . import payment_methods as pm
from .approval import FinanceFlow, Refusal
from .notifications import statement_notify

# Advisory-lock namespace of close_month (PostgreSQL), with the month as the second key.
CLOSE_MONTH_LOCK = 0x5354  # "ST"
# Every fund that pays on a settlement (claims.funds), then what the member paid.
MONEY_FIELDS = ("total", *FUND_FIELDS, "account", "family_account", "cash")


# ---------------------------------------------------------------------------------------
# Months


def parse_month(value: str) -> date:
    """'2026-03' -> date(2026, 3, 1); a DomainError for anything else."""
    try:
        year, month = (int(part) for part in value.strip().split("-"))
        return date(year, month, 1)
    except (ValueError, AttributeError):
        raise DomainError(_("The month is not valid (YYYY-MM)."), code="invalid_month", details={"month": value}) from None


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def next_month(month: date) -> date:
    return month_end(month) + timedelta(days=1)


def local_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) aware datetimes of the local (Asia/Shanghai) days first..last."""
    tz = timezone.get_default_timezone()
    return (
        timezone.make_aware(datetime.combine(first, time.min), tz),
        timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min), tz),
    )


def _money_sum(field: str):
    return Coalesce(Sum(field), Value(ZERO), output_field=MoneyField())


# ---------------------------------------------------------------------------------------
# Deductions


@transaction.atomic
def deduction_record(*, provider: Provider, amount: Decimal, reason: str, source_reference: str, user) -> Deduction:
    """Record a deduction from a provider's payment (supervision calls this for a confirmed
    violation). The same source_reference again returns the first deduction, unchanged."""
    amount = to_fen(amount)
    if amount <= 0:
        raise DomainError(_("A deduction is a positive amount."), code="invalid_amount", details={"amount": str(amount)})
    if not source_reference:
        raise DomainError(_("A deduction needs its source reference."), code="invalid", details={"source_reference": ""})
    deduction, created = Deduction.objects.get_or_create(
        source_reference=source_reference,
        defaults={
            "provider": provider, "amount": amount, "reason": reason[:500], "decided_by": user,
            "decided_on": timezone.localdate(),
        },
    )
    if created:
        audit(actor=user, action=AuditAction.DEDUCTION_RECORD, target=deduction, provider=provider.code,
              amount=str(amount), source_reference=source_reference)
    return deduction


# ---------------------------------------------------------------------------------------
# Closing a month


@dataclass(frozen=True)
class CloseResult:
    month: date
    created: int
    replaced: int
    kept_approved: int
    # (provider code, reason) of each provider whose statement could not be produced: the
    # others' statements are, and each failure is an audit event (statement.close_month.failed).
    failed: tuple[tuple[str, str], ...] = ()


# A statement's figures are MoneyFields (14 digits, 2 decimals): anything at or above this in
# absolute value cannot be stored, and would fail the whole month's INSERT for every provider.
FIGURE_LIMIT = Decimal(10) ** (MoneyField().max_digits - MoneyField().decimal_places)


def figures_problem(values: dict) -> str | None:
    """The first figure of one provider's statement that cannot be stored, or None."""
    for field in (*ProviderStatement.FIGURES, *ProviderStatement.METHOD_FIGURES):
        value = values.get(field)
        if isinstance(value, Decimal) and not (value.is_finite() and -FIGURE_LIMIT < value < FIGURE_LIMIT):
            return field
    return None


# The settlements on a monthly statement: a local provider's, and the cross-region platform's
# (no local provider), which are cleared by their visit place (省内 / 省外). The clearing
# expression is "" for a provider's settlement, the visit place for the platform's.
# (The platform settles visits outside the region only: claims.services refuses a local one.)
ON_A_STATEMENT = Q(provider__isnull=False) | Q(
    submitter=CROSS_REGION_SUBMITTER, visit_place__in=[Claim.VisitPlace.IN_PROVINCE, Claim.VisitPlace.OUT_OF_PROVINCE],
)
CLEARING = Case(When(provider__isnull=True, then=F("visit_place")), default=Value(""), output_field=CharField())


def _empty_figures() -> dict:
    return {
        "settlement_count": 0, "reversal_count": 0, "deductions_total": ZERO,
        **{field: ZERO for field in MONEY_FIELDS},
        **{f"reversed_{field}": ZERO for field in MONEY_FIELDS},
    }


def statement_figures(month: date) -> dict[tuple[int | None, str], dict]:
    """(provider_id, clearing) -> the statement's figures for the month, from three aggregate
    queries: (provider_id, "") for a provider, (None, "in_province" | "out_of_province") for a
    cross-region clearing statement."""
    start, end = local_bounds(month, month_end(month))
    figures: dict[tuple[int | None, str], dict] = {}

    def row(provider_id, clearing=""):
        return figures.setdefault((provider_id, clearing), _empty_figures())

    settled = (
        Claim.objects.filter(ON_A_STATEMENT, settled_at__gte=start, settled_at__lt=end)
        .order_by().annotate(clearing=CLEARING).values("provider_id", "clearing")
        .annotate(settlement_count=Count("pk"), **{field: _money_sum(field) for field in MONEY_FIELDS})
    )
    for values in settled:
        row(values.pop("provider_id"), values.pop("clearing")).update(values)
    reversed_ = (
        Claim.objects.filter(ON_A_STATEMENT, reversed_at__gte=start, reversed_at__lt=end)
        .order_by().annotate(clearing=CLEARING).values("provider_id", "clearing")
        .annotate(reversal_count=Count("pk"), **{f"reversed_{field}": _money_sum(field) for field in MONEY_FIELDS})
    )
    for values in reversed_:
        row(values.pop("provider_id"), values.pop("clearing")).update(values)
    # Deductions decided by the end of the month and not yet on a statement (close_month first
    # releases those on the month's drafts it replaces).
    deductions = (
        Deduction.objects.filter(statement__isnull=True, decided_on__lte=month_end(month))
        .order_by().values("provider_id").annotate(deductions_total=_money_sum("amount"))
    )
    for values in deductions:
        row(values.pop("provider_id")).update(values)

    for values in figures.values():
        # Payable = every fund + accounts (personal and family-sharing) − deductions, net of
        # reversals. Every fund: the pooled fund and Jinan (七)'s large-amount subsidy (the
        # second payment lowers what the member pays at the counter, so the provider is owed
        # it), and any fund of claims.funds added later.
        # Cash is not in it: the member paid their cash share to the provider at the counter;
        # the agency pays the provider the funds' and the accounts' shares, monthly
        # (Henan 第五章; Zaozhuang 第十五条). May be negative when reversals or deductions exceed
        # the month's settlements: the provider then owes the agency.
        values["payable"] = (
            sum(values[field] for field in FUND_FIELDS) - sum(values[field] for field in REVERSED_FUND_FIELDS)
            + values["account"] + values["family_account"]
            - values["reversed_account"] - values["reversed_family_account"]
            - values["deductions_total"]
        )
    # The agreement's payment methods, for the providers whose terms name any (per item: as above).
    apply_payment_methods(month, figures)
    return figures


# ---------------------------------------------------------------------------------------
# Payment methods (claims/statements/payment_methods.py applied to the month's figures)


def _pool_key(benefit: str, disease_code):
    if benefit == Claim.Benefit.CHRONIC_SPECIAL and disease_code:
        return (pm.CHRONIC, disease_code)
    return benefit


def method_inputs(month: date, terms: dict) -> dict[int, pm.MonthInputs]:
    """provider_id → the calculator's inputs for the providers with terms: a handful of grouped
    queries restricted to those providers, whatever their number of settlements."""
    start, end = local_bounds(month, month_end(month))
    provider_ids = list(terms)
    pools: dict[int, dict] = {provider_id: {} for provider_id in provider_ids}

    def add(provider_id, key, cases=0, funds=ZERO, separately_paid=ZERO):
        pool = pools[provider_id].get(key, pm.Pool(0, ZERO, ZERO))
        pools[provider_id][key] = pm.Pool(pool.cases + cases, pool.funds + funds, pool.separately_paid + separately_paid)

    claims = Claim.objects.filter(provider_id__in=provider_ids).order_by()
    for time_field, sign in (("settled_at", 1), ("reversed_at", -1)):
        rows = (claims.filter(**{f"{time_field}__gte": start, f"{time_field}__lt": end})
                .values("provider_id", "benefit", "chronic__disease__code")
                .annotate(n=Count("pk"), funds=Coalesce(Sum(funds_expression()), Value(ZERO), output_field=MoneyField())))
        for row in rows:
            add(row["provider_id"], _pool_key(row["benefit"], row["chronic__disease__code"]),
                cases=sign * row["n"], funds=sign * row["funds"])
        # Jinan (十六), Yangzhou 三(三): the funds' share of separately paid drugs, a line's share in
        # proportion to its policy-scope amount (the funds pay on the policy scope).
        share = ExpressionWrapper(funds_expression("claim__") * F("policy_scope") / F("claim__policy_scope"),
                                  output_field=DecimalField(max_digits=30, decimal_places=10))
        lines = (ClaimLine.objects.filter(catalog_item__separately_paid=True, claim__provider_id__in=provider_ids,
                                          claim__policy_scope__gt=0, policy_scope__gt=0,
                                          **{f"claim__{time_field}__gte": start, f"claim__{time_field}__lt": end})
                 .order_by().values("claim__provider_id", "claim__benefit", "claim__chronic__disease__code")
                 .annotate(share=Sum(share)))
        for row in lines:
            add(row["claim__provider_id"], _pool_key(row["claim__benefit"], row["claim__chronic__disease__code"]),
                separately_paid=sign * to_fen(row["share"] or ZERO))
    capitation = [provider_id for provider_id, item in terms.items() if item.capitation]
    registered = dict(
        PrimaryCareRegistration.objects.filter(provider_id__in=capitation).covering(month).order_by()
        .values("provider_id").annotate(n=Count("pk")).values_list("provider_id", "n")
    ) if capitation else {}
    return {provider_id: pm.MonthInputs(month=month.month, pools=pools[provider_id],
                                        registered_members=registered.get(provider_id, 0))
            for provider_id in provider_ids}


def apply_payment_methods(month: date, figures: dict) -> None:
    """The providers whose agreement has payment terms for the month's year: their funds paid
    as the terms say (new lines, and the payable), in place. A provider paid per item is left
    exactly as it was. A capitation provider with registered members but no settlement in the
    month still gets a statement (capitation pays for its registered members)."""
    found = payment_terms_for(None, month.year, day=month)
    if not found:
        return
    terms = {provider_id: pm.terms_from_model(item) for provider_id, item in found.items()}
    inputs = method_inputs(month, terms)
    for provider_id, item in terms.items():
        values = figures.get((provider_id, ""))
        if values is None:
            if not (item.capitation and inputs[provider_id].registered_members):
                continue
            values = figures[(provider_id, "")] = _empty_figures()
        lines = pm.month_lines(item, inputs[provider_id])
        values.update(
            payment_methods=",".join(item.methods), per_item_fund=lines.per_item_fund,
            budget_actual=lines.budget_actual, budget_share=lines.budget_share, budget_paid=lines.budget_paid,
            deposit_withheld=lines.deposit_withheld, capitation_members=lines.capitation_members,
            capitation_amount=lines.capitation_amount, per_disease_cases=lines.per_disease_cases,
            per_disease_amount=lines.per_disease_amount, per_disease_detail=lines.per_disease_detail,
            separately_paid=lines.separately_paid,
        )
        values["payable"] = (
            lines.funds_payable + values["account"] + values["family_account"]
            - values["reversed_account"] - values["reversed_family_account"] - values["deductions_total"]
        )


def statement_by_benefit(statement: ProviderStatement) -> list[dict]:
    """The statement's figures by benefit (outpatient pooling, chronic and special diseases,
    account only), net of the month's reversals, by the same bounds as its totals. Computed
    from the claims, so an approved statement's breakdown never changes either."""
    start, end = local_bounds(statement.month, month_end(statement.month))
    claims = Claim.objects.filter(provider_id=statement.provider_id).order_by()
    rows: dict[str, dict] = {}

    def row(benefit):
        return rows.setdefault(benefit, {"benefit": benefit, "count": 0, "fund": ZERO, "accounts": ZERO, "reversals": 0})

    for values in claims.filter(settled_at__gte=start, settled_at__lt=end).values("benefit").annotate(
        n=Count("pk"), fund_sum=_money_sum("fund"), account_sum=_money_sum("account"), family_sum=_money_sum("family_account")
    ):
        target = row(values["benefit"])
        target["count"] += values["n"]
        target["fund"] += values["fund_sum"]
        target["accounts"] += values["account_sum"] + values["family_sum"]
    for values in claims.filter(reversed_at__gte=start, reversed_at__lt=end).values("benefit").annotate(
        n=Count("pk"), fund_sum=_money_sum("fund"), account_sum=_money_sum("account"), family_sum=_money_sum("family_account")
    ):
        target = row(values["benefit"])
        target["reversals"] += values["n"]
        target["fund"] -= values["fund_sum"]
        target["accounts"] -= values["account_sum"] + values["family_sum"]
    order = [choice for choice, _label in Claim.Benefit.choices]
    return sorted(rows.values(), key=lambda item: order.index(item["benefit"]) if item["benefit"] in order else len(order))


def statement_settlements(statement: ProviderStatement):
    """The settlements behind a statement's totals: settled in its month (counted in its
    settlement figures) or reversed in it (counted in its reversals), by the same bounds."""
    start, end = local_bounds(statement.month, month_end(statement.month))
    if statement.provider_id:
        claims = Claim.objects.filter(provider_id=statement.provider_id)
    else:
        claims = Claim.objects.filter(provider__isnull=True, submitter=CROSS_REGION_SUBMITTER, visit_place=statement.clearing)
    return (
        claims
        .filter(Q(settled_at__gte=start, settled_at__lt=end) | Q(reversed_at__gte=start, reversed_at__lt=end))
        .select_related("member").order_by("settled_at", "pk")
    )


@transaction.atomic
def statement_close_month(*, month: date, user=None) -> CloseResult:
    """Produce one statement per provider with activity in the month, and the cross-region
    clearing statements (省内, 省外) of the platform's settlements. Running it again replaces
    the month's drafts with the same figures and never touches an approved statement."""
    month = month.replace(day=1)
    if next_month(month) > timezone.localdate():
        raise DomainError(
            _("A month can be closed only after it has ended."), code="month_not_ended", details={"month": f"{month:%Y-%m}"},
        )
    # Two runs for the same month (the beat task and an operator) take turns: the second sees
    # the first's drafts and replaces them instead of failing on the unique constraint.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CLOSE_MONTH_LOCK, month.year * 100 + month.month])
    # Lock the month's statements (fixed order) so that an approval cannot race the rerun.
    existing = list(ProviderStatement.objects.select_for_update(of=("self",)).filter(month=month).order_by("pk")
                    .values_list("pk", "provider_id", "clearing", "status"))
    # Keyed as statement_figures: (provider_id, clearing).
    drafts = {(provider_id, clearing): pk for pk, provider_id, clearing, status in existing
              if status == ProviderStatement.Status.DRAFT}
    frozen = {(provider_id, clearing) for pk, provider_id, clearing, status in existing
              if status != ProviderStatement.Status.DRAFT}
    # The drafts' deductions go back to the pool: recomputed below exactly as the first time.
    Deduction.objects.filter(statement_id__in=drafts.values()).update(statement=None)

    figures = statement_figures(month)
    now = timezone.now()
    to_update, to_create = [], []
    # Keyed as statement_figures: (provider_id, clearing).
    failed: dict[tuple[int | None, str], str] = {}
    for key, values in figures.items():
        if key in frozen:
            continue
        provider_id, clearing = key
        # One provider's data never stops the month for the others (its statement is left out,
        # the failure recorded below).
        problem = figures_problem(values)
        if problem is not None:
            failed[key] = f"{problem} out of range"
            continue
        statement = ProviderStatement(
            pk=drafts.get(key), provider_id=provider_id, clearing=clearing, month=month, generated_at=now,
            generated_by=user, **values,
        )
        (to_update if statement.pk else to_create).append(statement)
    stale = [pk for key, pk in drafts.items() if key not in figures]
    # A draft is replaced by deleting it and inserting it again under the same id (links to it
    # stay valid): one DELETE and one multi-row INSERT, where an UPDATE of every figure of
    # thousands of rows would need a CASE per field and row.
    ProviderStatement.objects.filter(pk__in=list(drafts.values()), status=ProviderStatement.Status.DRAFT).delete()
    statements = [*to_update, *to_create]
    try:
        with transaction.atomic():  # a savepoint: a refused row must not abort the month
            ProviderStatement.objects.bulk_create(statements, batch_size=1000)
    except (DataError, IntegrityError):
        # A row the checks above did not foresee: write the statements one by one, each in its
        # own savepoint, and record the providers whose row the database refuses.
        written = []
        for statement in statements:
            try:
                with transaction.atomic():
                    statement.save(force_insert=True)
                written.append(statement)
            except (DataError, IntegrityError) as error:
                failed[(statement.provider_id, statement.clearing)] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200] if str(error).strip() else ''}"
        kept = {id(statement) for statement in written}
        to_update = [statement for statement in to_update if id(statement) in kept]
        to_create = [statement for statement in to_create if id(statement) in kept]
    # Put the deductions counted above on their statements (same filter as statement_figures),
    # in one UPDATE.
    providers_with_deductions = [s.provider_id for s in (*to_update, *to_create) if s.deductions_total and s.provider_id]
    if providers_with_deductions:
        Deduction.objects.filter(
            statement__isnull=True, decided_on__lte=month_end(month), provider_id__in=providers_with_deductions,
        ).update(statement_id=Subquery(
            ProviderStatement.objects.filter(provider_id=OuterRef("provider_id"), month=month, clearing="").values("pk")[:1]
        ))
    codes = dict(Provider.objects.filter(pk__in=[pid for pid, _clearing in failed if pid]).values_list("pk", "code")) if failed else {}
    # A clearing statement is named by its clearing (in_province, out_of_province).
    failures = tuple(sorted((codes.get(provider_id, str(provider_id)) if provider_id else clearing, reason)
                            for (provider_id, clearing), reason in failed.items()))
    for code, reason in failures:
        audit(actor=user, action=AuditAction.STATEMENT_CLOSE_MONTH_FAILED, label=code, month=f"{month:%Y-%m}", provider=code, reason=reason)
    audit(actor=user, action=AuditAction.STATEMENT_CLOSE_MONTH, month=f"{month:%Y-%m}", created=len(to_create),
          replaced=len(to_update), removed=len(stale), kept_approved=len(frozen), failed=len(failures))
    return CloseResult(month=month, created=len(to_create), replaced=len(to_update), kept_approved=len(frozen),
                       failed=failures)


STATEMENT_FLOW = FinanceFlow(
    model=ProviderStatement, id_key="statement_id", preparer_field="generated_by_id",
    not_found=Refusal(_("No such statement."), "statement_not_found"),
    not_draft=Refusal(_("Only a draft statement can be approved."), "statement_not_draft"),
    not_approved=Refusal(_("Only an approved statement can be paid."), "statement_not_approved"),
)


def _lock_statement(statement_id: int) -> ProviderStatement:
    return STATEMENT_FLOW.lock(statement_id)


@transaction.atomic
def statement_approve(*, statement_id: int, user) -> ProviderStatement:
    """Finance approves a draft; never the person who generated it (Ziyang 第十九条: handling
    and approval are incompatible duties). A statement generated by the scheduled task (no
    user) may be approved by any finance officer. The flow: approval.FinanceFlow."""
    statement = STATEMENT_FLOW.approve(pk=statement_id, user=user)
    audit(actor=user, action=AuditAction.STATEMENT_APPROVE, target=statement, payable=str(statement.payable))
    statement_notify(statement, "statement_approved")  # issue 16: in this transaction
    return statement


@transaction.atomic
def statement_record_payment(*, statement_id: int, payment_reference: str, user) -> ProviderStatement:
    """Finance records the payment (bank reference) of an approved statement; never its
    approver (Ziyang 第十九条: 会计 and 出纳 differ). The flow: approval.FinanceFlow."""
    statement = STATEMENT_FLOW.record_payment(pk=statement_id, payment_reference=payment_reference, user=user)
    audit(actor=user, action=AuditAction.STATEMENT_PAY, target=statement, payment_reference=statement.payment_reference)
    statement_notify(statement, "statement_paid")
    return statement


# ---------------------------------------------------------------------------------------
# Reconciliation (对账)

TOTAL_FIELDS = ("count", "total", "fund", "account", "cash")


@dataclass(frozen=True)
class SubmittedSettlement:
    """One line of the provider's own list: identified by settlement_id or external_ref."""

    total: Decimal
    fund: Decimal
    account: Decimal
    cash: Decimal
    settlement_id: int | None = None
    external_ref: str = ""


def _fmt(value) -> str:
    return str(value) if isinstance(value, int) else f"{to_fen(value):.2f}"


@transaction.atomic
def reconciliation_submit(
    *, provider: Provider | None, user, period_from: date, period_to: date, totals: dict,
    settlements: list[SubmittedSettlement] | None = None, clearing: str = "",
) -> Reconciliation:
    """Compare the provider's totals (and, optionally, its list) with the agency's settlements
    of that provider settled in the period (local dates, inclusive) and still valid (not
    reversed). `account` is the personal and family-sharing accounts together."""
    if period_to < period_from:
        raise DomainError(_("The period ends before it starts."), code="invalid", details={"period_to": str(period_to)})
    start, end = local_bounds(period_from, period_to)
    if provider is not None:
        clearing = ""
        claims = Claim.objects.filter(provider=provider)
    else:
        # The cross-region platform reconciles one clearing (省内 or 省外) at a time, as it is paid.
        if clearing not in (ProviderStatement.Clearing.IN_PROVINCE, ProviderStatement.Clearing.OUT_OF_PROVINCE):
            raise DomainError(_("Name the clearing: in_province or out_of_province."), code="invalid",
                              details={"clearing": clearing, "allowed": ["in_province", "out_of_province"]})
        claims = Claim.objects.filter(provider__isnull=True, submitter=CROSS_REGION_SUBMITTER, visit_place=clearing)
    claims = claims.filter(status=Claim.Status.SETTLED, settled_at__gte=start, settled_at__lt=end)
    aggregate = claims.order_by().aggregate(
        count=Count("pk"), total=_money_sum("total"), **{fund.field: _money_sum(fund.field) for fund in FUNDS},
        account=_money_sum("account"), family_account=_money_sum("family_account"), cash=_money_sum("cash"),
    )
    agency = {
        "count": aggregate["count"], "total": aggregate["total"],
        "fund": sum(aggregate[field] for field in FUND_FIELDS),
        "account": aggregate["account"] + aggregate["family_account"], "cash": aggregate["cash"],
    }
    submitted = {field: (int(totals[field]) if field == "count" else to_fen(totals[field])) for field in TOTAL_FIELDS}
    differences: dict = {
        "totals": {
            field: {"provider": _fmt(submitted[field]), "agency": _fmt(agency[field])}
            for field in TOTAL_FIELDS if submitted[field] != agency[field]
        },
    }
    if settlements is not None:
        differences.update(_detail_differences(claims, settlements))
    mismatch = any(differences.values())
    reconciliation = Reconciliation.objects.create(
        provider=provider, clearing=clearing, period_from=period_from, period_to=period_to,
        submitted={field: _fmt(value) for field, value in submitted.items()},
        agency={field: _fmt(value) for field, value in agency.items()},
        detail_submitted=settlements is not None,
        result=Reconciliation.Result.MISMATCH if mismatch else Reconciliation.Result.MATCH,
        differences=differences, submitted_by=user,
    )
    audit(actor=user, action=AuditAction.RECONCILIATION_SUBMIT, target=reconciliation,
          provider=provider.code if provider else CROSS_REGION_SUBMITTER, clearing=clearing,
          result=reconciliation.result)
    return reconciliation


def _detail_differences(claims, settlements: list[SubmittedSettlement]) -> dict:
    # Reads only the columns compared, for one provider and period (the provider's own list).
    rows = claims.order_by("pk").values_list("pk", "external_ref", "total", "account", "family_account", "cash", *FUND_FIELDS)
    agency = {pk: (ref, {"total": total, "fund": sum(funds), "account": account + family, "cash": cash})
              for pk, ref, total, account, family, cash, *funds in rows}
    by_ref = {ref: pk for pk, (ref, _amounts) in agency.items()}
    seen: set[int] = set()
    missing_on_agency, different = [], []
    for line in settlements:
        pk = line.settlement_id if line.settlement_id in agency else by_ref.get(line.external_ref)
        key = {"settlement_id": line.settlement_id, "external_ref": line.external_ref or None}
        provider_amounts = {"total": to_fen(line.total), "fund": to_fen(line.fund),
                            "account": to_fen(line.account), "cash": to_fen(line.cash)}
        if pk is None or pk in seen:
            missing_on_agency.append({**key, **{k: _fmt(v) for k, v in provider_amounts.items()}})
            continue
        seen.add(pk)
        ref, amounts = agency[pk]
        fields = {
            field: {"provider": _fmt(provider_amounts[field]), "agency": _fmt(amounts[field])}
            for field in provider_amounts if provider_amounts[field] != amounts[field]
        }
        if fields:
            different.append({"settlement_id": pk, "external_ref": ref, "fields": fields})
    missing_on_provider = [
        {"settlement_id": pk, "external_ref": ref, **{k: _fmt(v) for k, v in amounts.items()}}
        for pk, (ref, amounts) in agency.items() if pk not in seen
    ]
    return {
        "missing_on_agency_side": missing_on_agency,
        "missing_on_provider_side": missing_on_provider,
        "different_amounts": different,
    }
