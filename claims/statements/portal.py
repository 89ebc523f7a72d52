"""Provider portal pages for settlements, monthly statements, year-end settlements and
reconciliation.

Everything is looked up through request.provider: another provider's statement, year-end
settlement or reconciliation is a 404.
"""

from datetime import date

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from core.idnumber import normalize_id_number
from core.params import bounded_date_form_field, page_or_default
from pharmacies.portal import portal_view, render_portal

from ..models import Claim, ProviderStatement, Reconciliation, YearEndSettlement
from . import exports
from .services import reconciliation_submit, statement_settlements


class SettlementSearchForm(forms.Form):
    settled_from = bounded_date_form_field(label=_("settled from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    settled_to = bounded_date_form_field(label=_("settled to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    member = forms.CharField(
        label=_("member ID number"), required=False, max_length=32,
        help_text=_("The full ID number, or its masked form (370402********1234)."),
    )
    external_ref = forms.CharField(label=_("transaction number"), required=False, max_length=64)


def member_filter(claims, value: str):
    """Full ID number: exact; masked form (prefix****suffix): its visible beginning and end."""
    value = normalize_id_number(value)
    if "*" in value:
        prefix, suffix = value.split("*", 1)[0], value.rsplit("*", 1)[1]
        if prefix:
            claims = claims.filter(member__id_number__startswith=prefix)
        if suffix:
            claims = claims.filter(member__id_number__endswith=suffix)
        return claims
    return claims.filter(member__id_number=value)


def _searched_claims(request):
    form = SettlementSearchForm(request.GET or None)
    claims = Claim.objects.filter(provider=request.provider).select_related("member").order_by("-settled_at", "-pk")
    if form.is_valid():
        data = form.cleaned_data
        from .services import local_bounds

        if data["settled_from"]:
            claims = claims.filter(settled_at__gte=local_bounds(data["settled_from"], data["settled_from"])[0])
        if data["settled_to"]:
            claims = claims.filter(settled_at__lt=local_bounds(data["settled_to"], data["settled_to"])[1])
        if data["member"]:
            claims = member_filter(claims, data["member"])
        if data["external_ref"]:
            claims = claims.filter(external_ref=data["external_ref"].strip())
    return form, claims


@portal_view
def settlements(request):
    form, claims = _searched_claims(request)
    export = request.GET.get("export")
    stamp = date.today().strftime("%Y%m%d")
    if export == "csv":
        return exports.settlements_csv(claims, f"settlements-{request.provider.code}-{stamp}.csv")
    if export == "xlsx":
        return exports.settlements_xlsx(claims, f"settlements-{request.provider.code}-{stamp}.xlsx")
    # No COUNT(*) of a large table on every page: the paginator only looks one page ahead.
    page_number = page_or_default(request.GET.get("page"))
    per_page = 50
    rows = list(claims[(page_number - 1) * per_page: page_number * per_page + 1])
    query = request.GET.copy()
    query.pop("page", None)
    return render_portal(request, "portal/settlements.html", {
        "form": form, "claims": rows[:per_page], "page_number": page_number,
        "has_next": len(rows) > per_page, "query": query.urlencode(),
    })


@portal_view
def settlement_detail(request, pk):
    """One of the provider's own settlements: its lines and why it paid what it paid."""
    claim = get_object_or_404(
        Claim.objects.select_related("member", "policy_version").prefetch_related("lines__catalog_item"),
        pk=pk, provider=request.provider,
    )
    return render_portal(request, "portal/settlement_detail.html", {"claim": claim, "steps": claim.explanation()})


@portal_view(any_status=True)
def statements(request):
    statements = ProviderStatement.objects.filter(provider=request.provider).order_by("-month")
    paginator = Paginator(statements, 24)
    return render_portal(request, "portal/statements.html", {"page": paginator.get_page(request.GET.get("page"))})


def _own_statement(request, pk) -> ProviderStatement:
    return get_object_or_404(
        ProviderStatement.objects.select_related("provider", "approved_by"), pk=pk, provider=request.provider,
    )


@portal_view(any_status=True)
def statement_detail(request, pk):
    statement = _own_statement(request, pk)
    return render_portal(request, "portal/statement_detail.html", {
        "statement": statement, "rows": exports.statement_rows(statement), "deductions": statement.deductions.all(),
    })


@portal_view(any_status=True)
def statement_print(request, pk):
    statement = _own_statement(request, pk)
    return render(request, "claims/statement_print.html", {
        "statement": statement, "rows": exports.statement_rows(statement), "deductions": statement.deductions.all(),
    })


@portal_view(any_status=True)
def statement_xlsx(request, pk):
    statement = _own_statement(request, pk)
    return exports.statements_xlsx(
            [statement], f"statement-{statement.provider.code}-{statement.month:%Y%m}.xlsx",
            settlements=statement_settlements(statement),
        )


@portal_view(any_status=True)
def year_ends(request):
    """The provider's year-end settlements (年度清算), newest year first: one a year at most."""
    settlements = YearEndSettlement.objects.filter(provider=request.provider).order_by("-year")
    return render_portal(request, "portal/year_ends.html", {"settlements": settlements})


def _own_year_end(request, pk) -> YearEndSettlement:
    return get_object_or_404(
        YearEndSettlement.objects.select_related("provider", "prepared_by", "approved_by", "paid_by"),
        pk=pk, provider=request.provider,
    )


@portal_view(any_status=True)
def year_end_detail(request, pk):
    """One of the provider's year-end settlements: the lines the admin's page, the print and the
    XLSX show (exports.year_end_rows), in the same order."""
    settlement = _own_year_end(request, pk)
    return render_portal(request, "portal/year_end_detail.html", {
        "settlement": settlement, "rows": exports.year_end_rows(settlement),
    })


@portal_view(any_status=True)
def year_end_print(request, pk):
    settlement = _own_year_end(request, pk)
    return render(request, "claims/year_end_print.html", {
        "settlement": settlement, "rows": exports.year_end_rows(settlement),
    })


@portal_view(any_status=True)
def year_end_xlsx(request, pk):
    settlement = _own_year_end(request, pk)
    return exports.year_end_xlsx([settlement], f"year-end-{settlement.file_key}-{settlement.year}.xlsx")


class ReconciliationForm(forms.Form):
    period_from = bounded_date_form_field(label=_("from"), widget=forms.DateInput(attrs={"type": "date"}))
    period_to = bounded_date_form_field(label=_("to"), widget=forms.DateInput(attrs={"type": "date"}))
    count = forms.IntegerField(label=_("number of settlements"), min_value=0)
    total = forms.DecimalField(label=_("total medical cost"), max_digits=14, decimal_places=2)
    fund = forms.DecimalField(label=_("fund paid"), max_digits=14, decimal_places=2)
    account = forms.DecimalField(label=_("accounts paid (personal and family-sharing)"), max_digits=14, decimal_places=2)
    cash = forms.DecimalField(label=_("cash"), max_digits=14, decimal_places=2)
    settlements_file = forms.FileField(
        label=_("settlement list (optional CSV)"), required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The CSV's column names are typed by the provider as they are: shown as code, not words.
        columns = {name: format_html("<code>{}</code>", column) for name, column in (
            ("id", "settlement_id"), ("ref", "external_ref"), ("total", "total"), ("fund", "fund"),
            ("account", "account"), ("cash", "cash"))}
        self.fields["settlements_file"].help_text = format_html(
            gettext("Columns (the file's first row): {id} or {ref}, {total}, {fund}, {account}, {cash}."), **columns)


def figure_labels() -> dict:
    """Each reconciliation figure by the name the provider types it under (the form's labels),
    never its key; the admin's page uses the same words."""
    return {name: field.label for name, field in ReconciliationForm.base_fields.items()}


def figure_names(*figures: dict) -> list:
    """The figures' keys in the form's order (PostgreSQL's jsonb keeps no key order), then any
    key the form does not know."""
    present = {name for figure in figures for name in figure}
    known = [name for name in ReconciliationForm.base_fields if name in present]
    return known + sorted(present.difference(known))


def _read_list(upload):
    """The provider's settlement list: CSV in UTF-8, UTF-16 or GBK (as Chinese Excel saves it);
    anything else, and any amount that is not a finite number of yuan within a statement's
    range (NaN, Infinity, 1e999), is refused naming the row and the column."""
    from decimal import Decimal, InvalidOperation

    from django.conf import settings

    from core.imports.pipeline import ImportLimits, ImportRefused, csv_table, decode_csv_bytes

    from .services import FIGURE_LIMIT, SubmittedSettlement

    if upload.size > settings.IMPORT_MAX_BYTES:
        raise DomainError(_("The settlement list is larger than an import may be."), code="invalid",
                          details={"file": "settlements_file", "limit": settings.IMPORT_MAX_BYTES})

    def refused_by(refused: ImportRefused) -> DomainError:
        first = refused.errors[0]
        return DomainError(str(refused), code="invalid", details={
            "file": "settlements_file", **({"row": first.row, "column": first.column} if first.row else {})})

    # Read as the imports read (core.imports.pipeline): rows counted within IMPORT_MAX_ROWS and
    # every cell within IMPORT_MAX_CELL_CHARS while they stream, a refusal naming row and column.
    try:
        table = csv_table(decode_csv_bytes(upload.read(), upload.name), upload.name, ImportLimits.from_settings())
    except ImportRefused as refused:
        raise refused_by(refused) from None

    def amount(row, number, column):
        try:
            value = Decimal((row.get(column) or "").strip())
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or abs(value) >= FIGURE_LIMIT or value != value.quantize(Decimal("0.01")):
            raise DomainError(
                _("Row %(row)s, column %(column)s: not an amount in yuan with at most two decimals.") % {"row": number, "column": column},
                code="invalid", details={"row": number, "column": column, "value": (row.get(column) or "")[:100]},
            )
        return value

    def records():
        try:
            for number, cells in table.rows:
                if any(cells):  # blank lines Excel leaves behind
                    yield number, dict(zip(table.headers, cells, strict=False))
        except ImportRefused as refused:
            raise refused_by(refused) from None

    lines = []
    for number, row in records():
        raw_id = (row.get("settlement_id") or "").strip()
        if raw_id and not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 18):
            raise DomainError(_("Row %(row)s, column %(column)s: not a settlement number.") % {"row": number, "column": "settlement_id"},
                              code="invalid", details={"row": number, "column": "settlement_id", "value": raw_id[:100]})
        lines.append(SubmittedSettlement(
            settlement_id=int(raw_id) if raw_id else None,
            external_ref=(row.get("external_ref") or "").strip()[:64],
            total=amount(row, number, "total"), fund=amount(row, number, "fund"),
            account=amount(row, number, "account"), cash=amount(row, number, "cash"),
        ))
    return lines


@portal_view(any_status=True)
def reconciliations(request):
    form = ReconciliationForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            listed = _read_list(data["settlements_file"]) if data["settlements_file"] else None
            reconciliation = reconciliation_submit(
                provider=request.provider, user=request.user, period_from=data["period_from"], period_to=data["period_to"],
                totals={field: data[field] for field in ("count", "total", "fund", "account", "cash")}, settlements=listed,
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            return redirect("portal_claims:reconciliation", pk=reconciliation.pk)
    history = Reconciliation.objects.filter(provider=request.provider)[:20]
    return render_portal(request, "portal/reconciliations.html", {"form": form, "history": history})


@portal_view(any_status=True)
def reconciliation_detail(request, pk):
    reconciliation = get_object_or_404(Reconciliation, pk=pk, provider=request.provider)
    # Each figure by the name the provider typed it under (the form's labels), never its key.
    labels = figure_labels()
    # A figure that differs from the agency's is marked (a class and the word 不一致: not colour alone).
    totals = [(labels.get(name, name), reconciliation.submitted[name], reconciliation.agency.get(name),
               reconciliation.submitted[name] != reconciliation.agency.get(name))
              for name in figure_names(reconciliation.submitted)]
    differences = dict(reconciliation.differences or {})
    differences["different_amounts"] = [
        {**line, "fields": {labels.get(name, name): pair for name, pair in line.get("fields", {}).items()}}
        for line in differences.get("different_amounts", [])
    ]
    return render_portal(request, "portal/reconciliation_detail.html", {
        "reconciliation": reconciliation, "totals": totals, "differences": differences,
    })
