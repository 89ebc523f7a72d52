"""Admin for monthly statements, deductions and reconciliations: read-only figures; actions
call the services (approve, record the payment, close a month); print and XLSX links."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Value
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from core.admin import LargeTableMixin, NoAddNoDeleteMixin
from core.admin_actions import apply_to_selected, role_permission
from core.errors import DomainError
from core.formats import month_label
from core.people import person_name
from core.roles import Role

from ..funds import FUND_FIELDS
from ..models import Deduction, ProviderStatement, Reconciliation, YearEndSettlement
from . import exports
from .portal import figure_labels, figure_names
from .services import statement_approve, statement_record_payment, statement_settlements
from .year_end import year_end_approve, year_end_prepare, year_end_record_payment


def person_display(field_name: str, description, *, nobody: str = "-"):
    """A read-only admin field showing who did a step by name (王芳), as the print does
    (core.people.person_name, the ``person`` filter), never the username. ``nobody`` is shown when
    the step is not taken yet; ``None`` shows the scheduled task (the system), as the print does."""

    @admin.display(description=description)
    def display(self, obj):
        user = getattr(obj, field_name)
        if user is None and nobody is not None:
            return nobody
        return person_name(user)

    return display


class DeductionInline(admin.TabularInline):
    model = Deduction
    fields = ["decided_on", "amount", "reason", "source_label", "decided_by_name"]  # the source in words
    readonly_fields = fields
    extra = 0
    can_delete = False

    decided_by_name = person_display("decided_by", _("decided by"))

    def has_add_permission(self, request, obj=None):
        return False


class FinanceStepsMixin(NoAddNoDeleteMixin):
    """Approving and recording a payment are finance's (core/roles.py; the services refuse anyone
    else): the action, the "Record payment" link and the payment page are offered to finance only,
    and a direct POST from anyone else is answered 403. Print and XLSX stay open to every viewer."""

    has_approve_permission = role_permission(Role.FINANCE, model_permission="change")
    has_pay_permission = has_approve_permission

    def get_queryset(self, request):
        # Per request (a ModelAdmin is shared by every thread): `links` reads it off the row.
        return super().get_queryset(request).annotate(
            may_pay=Value(self.has_pay_permission(request), output_field=BooleanField()))

    def _pay_link(self, obj, url_name):
        if obj.status != self.model.Status.APPROVED or not getattr(obj, "may_pay", False):
            return ""
        return format_html(' · <a href="{}">{}</a>', reverse(url_name, args=[obj.pk]), _("Record payment"))

    def _require_pay_permission(self, request):
        if not self.has_pay_permission(request):
            raise PermissionDenied

    # The rest of the flow both documents share (approval.FinanceFlow behind the services): read
    # only, no add or delete; print, XLSX and "Record payment" per row; the payment page. Each
    # document's admin names its own payment service as `record_payment(obj, *, user,
    # payment_reference)`, and its print and XLSX views.
    object_related: tuple[str, ...] = ()
    pay_template = ""
    pay_context_name = ""

    def _url_name(self, step: str) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_{step}"

    @admin.display(description=_("print / export"))
    def links(self, obj):
        return format_html(
            '<a href="{}" target="_blank">{}</a> · <a href="{}">XLSX</a>{}',
            reverse(f"admin:{self._url_name('print')}", args=[obj.pk]), _("Print"),
            reverse(f"admin:{self._url_name('xlsx')}", args=[obj.pk]),
            self._pay_link(obj, f"admin:{self._url_name('pay')}"),
        )

    def extra_urls(self) -> list:
        return []

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            *self.extra_urls(),
            path("<int:pk>/print/", view(self.print_view), name=self._url_name("print")),
            path("<int:pk>/xlsx/", view(self.xlsx_view), name=self._url_name("xlsx")),
            path("<int:pk>/pay/", view(self.pay_view), name=self._url_name("pay")),
            *super().get_urls(),
        ]

    def _object(self, request, pk):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.model.objects.select_related(*self.object_related), pk=pk)

    class PaymentForm(forms.Form):
        payment_reference = forms.CharField(label=_("payment reference"), max_length=100)

    def pay_view(self, request, pk):
        self._require_pay_permission(request)
        obj = self._object(request, pk)
        form = self.PaymentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                self.record_payment(obj, user=request.user, payment_reference=form.cleaned_data["payment_reference"])
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(request, _("Payment recorded."), messages.SUCCESS)
                return redirect(f"admin:{self._url_name('change')}", obj.pk)
        return TemplateResponse(request, self.pay_template, {
            **self.admin_site.each_context(request), self.pay_context_name: obj, "form": form,
            "opts": self.model._meta, "title": _("Record payment"),
        })

    def _approve_selected(self, request, queryset, approve, done_message):
        apply_to_selected(self, request, queryset.order_by("pk"), lambda obj: approve(obj.pk, request.user),
                          done_message=done_message)


@admin.register(ProviderStatement)
class ProviderStatementAdmin(FinanceStepsMixin, LargeTableMixin, admin.ModelAdmin):
    list_display = ["provider", "clearing", "month_label", "status", "settlement_count", "reversal_count", *FUND_FIELDS, "account",
                    "family_account", "deductions_total", "payable", "payment_reference", "links"]
    list_filter = ["status", "clearing", "month"]
    list_select_related = ["provider"]
    search_fields = ["provider__code", "provider__name"]
    date_hierarchy = "month"
    # The payment methods in words (总额预算), never their keys (budget).
    readonly_fields = ["provider", "clearing", "month_label", "status", *ProviderStatement.FIGURES,
                       *[("method_labels" if name == "payment_methods" else name) for name in ProviderStatement.METHOD_FIGURES],
                       "generated_at", "generated_by_name",
                       "approved_at", "approved_by_name", "paid_at", "paid_by_name", "payment_reference", "links"]
    fields = readonly_fields
    inlines = [DeductionInline]
    actions = ["approve_selected", "export_xlsx"]

    # Who did each step by name, as the print shows them; generated by no one: the scheduled task.
    generated_by_name = person_display("generated_by", _("generated by"), nobody=None)
    approved_by_name = person_display("approved_by", _("approved by"))
    paid_by_name = person_display("paid_by", _("payment recorded by"))

    @admin.display(description=_("payment methods"))
    def method_labels(self, obj):
        return obj.method_labels

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj):
        return month_label(obj.month)  # 2026年10月, not 2026年10月1日

    object_related = ("provider", "generated_by", "approved_by", "paid_by")
    pay_template = "admin/claims/statement_pay.html"
    pay_context_name = "statement"

    def record_payment(self, obj, *, user, payment_reference):
        return statement_record_payment(statement_id=obj.pk, user=user, payment_reference=payment_reference)

    def print_view(self, request, pk):
        statement = self._object(request, pk)
        return TemplateResponse(request, "claims/statement_print.html", {
            "statement": statement, "rows": exports.statement_rows(statement), "deductions": statement.deductions.all(),
        })

    def xlsx_view(self, request, pk):
        statement = self._object(request, pk)
        return exports.statements_xlsx(
            [statement], f"statement-{statement.file_key}-{statement.month:%Y%m}.xlsx",
            settlements=statement_settlements(statement),
        )

    @admin.action(description=_("Approve the selected statements"), permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._approve_selected(request, queryset, lambda pk, user: statement_approve(statement_id=pk, user=user),
                               _("%(count)d statements approved."))

    @admin.action(description=_("Export the selected statements (XLSX)"))
    def export_xlsx(self, request, queryset):
        return exports.statements_xlsx(
            queryset.select_related("provider", "approved_by").prefetch_related("deductions"), "statements.xlsx",
        )


@admin.register(Deduction)
class DeductionAdmin(NoAddNoDeleteMixin, LargeTableMixin, admin.ModelAdmin):
    # No add, no delete: recorded by supervision's confirmed violations
    # (claims.statements.services.deduction_record).
    list_display = ["provider", "amount", "decided_on", "source_label", "reason", "statement"]
    list_select_related = ["provider", "statement__provider"]  # the statement reads by provider name
    search_fields = ["provider__code", "source_reference"]
    # source_reference: a code, shown in words as source_label
    readonly_fields = ["provider", "amount", "reason", "source_label", "decided_by_name", "decided_on", "statement", "created_at"]
    exclude = ["source_reference", "decided_by"]  # decided_by shown by name as decided_by_name
    decided_by_name = person_display("decided_by", _("decided by"))


def _figure(value) -> str:
    """A stored figure (a count, or yuan as text to the fen) as it reads: amounts with thousands separators."""
    if value is None or value == "":
        return "—"
    text = str(value)
    if "." in text:
        try:
            return f"{Decimal(text):,.2f}"
        except InvalidOperation:
            return text
    return text


def _difference(mine, theirs) -> str:
    try:
        difference = Decimal(str(mine)) - Decimal(str(theirs))
    except (InvalidOperation, ValueError):
        return "—"
    if "." in str(mine) or "." in str(theirs):
        return f"{difference:+,.2f}"
    return f"{difference:+}"


@admin.register(Reconciliation)
class ReconciliationAdmin(NoAddNoDeleteMixin, LargeTableMixin, admin.ModelAdmin):
    list_display = ["provider", "clearing", "period_from", "period_to", "result", "submitted_at", "submitted_by"]
    list_filter = ["result", "clearing"]
    list_select_related = ["provider", "submitted_by"]
    search_fields = ["provider__code"]
    # The figures and differences are JSON: shown as tables in words, never as JSON.
    fields = ["provider", "clearing", "period_from", "period_to", "result", "figures", "detail_submitted", "settlement_differences",
              "submitted_by", "submitted_at"]
    readonly_fields = fields

    @admin.display(description=_("figures"))
    def figures(self, obj):
        """The provider's figures beside the agency's, by the portal's row labels; a row that
        differs is highlighted with its difference (provider − agency)."""
        labels = figure_labels()
        submitted, agency = obj.submitted or {}, obj.agency or {}
        rows = []
        for name in figure_names(submitted, agency):
            mine, theirs = submitted.get(name), agency.get(name)
            differs = mine != theirs
            # Marked by a class (static/gongji/admin.css) and the word 不一致: not colour alone.
            rows.append(format_html(
                '<tr{}><th>{}{}</th><td class="money">{}</td><td class="money">{}</td><td class="money">{}</td></tr>',
                mark_safe(' class="reconciliation-differs"') if differs else "",
                labels.get(name) or capfirst(str(name).replace("_", " ")),
                format_html(' <span class="differs-mark">{}</span>', _("differs")) if differs else "",
                _figure(mine), _figure(theirs), _difference(mine, theirs) if differs else "—",
            ))
        return format_html(
            '<table class="reconciliation-figures"><thead><tr><th></th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            _("provider's totals"), _("agency's totals"), _("difference (provider − agency)"), mark_safe("".join(rows)),
        )

    @admin.display(description=_("settlements that differ"))
    def settlement_differences(self, obj):
        """The settlements on one side only, and those whose amounts differ (when a list was submitted)."""
        labels = figure_labels()
        differences = obj.differences or {}
        amounts = ("total", "fund", "account", "cash")
        link = lambda pk: (format_html('<a href="{}">{}</a>', reverse("admin:claims_claim_change", args=[pk]), pk)  # noqa: E731
                           if isinstance(pk, int) and not isinstance(pk, bool) else (pk or "—"))
        head = format_html_join("", "<th>{}</th>", ((labels.get(name, name),) for name in amounts))
        sections = []
        for key, title, linked in (("missing_on_agency_side", _("Missing on the agency's side"), False),
                                   ("missing_on_provider_side", _("Missing on the provider's side"), True)):
            lines = differences.get(key) or []
            if lines:
                body = format_html_join("", "<tr><td>{}</td><td>{}</td>{}</tr>", (
                    (link(line.get("settlement_id")) if linked else (line.get("settlement_id") or "—"),
                     line.get("external_ref") or "—",
                     format_html_join("", '<td class="money">{}</td>', ((_figure(line.get(name)),) for name in amounts)))
                    for line in lines))
                sections.append(format_html(
                    "<h4>{}</h4><table><thead><tr><th>{}</th><th>{}</th>{}</tr></thead><tbody>{}</tbody></table>",
                    title, _("settlement"), _("transaction number"), head, body))
        different = differences.get("different_amounts") or []
        if different:
            body = format_html_join("", '<tr class="reconciliation-differs"><td>{}</td><td>{}</td><td>{}</td></tr>', (
                (link(line.get("settlement_id")), line.get("external_ref") or "—", format_html_join(
                    mark_safe("<br>"), "{}：{} / {}", (
                        (labels.get(name, name), _figure(pair.get("provider")), _figure(pair.get("agency")))
                        for name, pair in (line.get("fields") or {}).items())))
                for line in different))
            sections.append(format_html(
                "<h4>{}</h4><table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
                _("Different amounts"), _("settlement"), _("transaction number"), _("provider's / agency's"), body))
        if sections:
            return mark_safe("".join(sections))
        return _("No settlement differs.") if obj.detail_submitted else _("No settlement list was submitted.")


@admin.register(YearEndSettlement)
class YearEndSettlementAdmin(FinanceStepsMixin, LargeTableMixin, admin.ModelAdmin):
    """Year-end settlements (年度清算): prepared (the page 编制年度清算 or the command/task),
    approved by finance (never the preparer), paid (never by the approver); print and XLSX."""

    list_display = ["provider", "year", "status", "budget", "budget_actual", "budget_balance", "credit_grade",
                    "deposit_returned", "payable", "payment_reference", "links"]
    list_filter = ["status", "year", "credit_grade"]
    list_select_related = ["provider"]
    search_fields = ["provider__code", "provider__name"]
    readonly_fields = ["provider", "year", "terms", "status", *YearEndSettlement.FIGURES, "prepared_at", "prepared_by_name",
                       "approved_at", "approved_by_name", "paid_at", "paid_by_name", "payment_reference", "links"]
    fields = readonly_fields
    actions = ["approve_selected", "export_xlsx"]

    # Who did each step by name, as the print shows them; prepared by no one: the scheduled task.
    prepared_by_name = person_display("prepared_by", _("prepared by"), nobody=None)
    approved_by_name = person_display("approved_by", _("approved by"))
    paid_by_name = person_display("paid_by", _("payment recorded by"))

    object_related = ("provider", "prepared_by", "approved_by", "paid_by")
    pay_template = "admin/claims/year_end_form.html"
    pay_context_name = "settlement"

    def record_payment(self, obj, *, user, payment_reference):
        return year_end_record_payment(settlement_id=obj.pk, user=user, payment_reference=payment_reference)

    change_list_template = "admin/claims/yearendsettlement/change_list.html"

    def extra_urls(self):
        return [path("prepare/", self.admin_site.admin_view(self.prepare_view), name=self._url_name("prepare"))]

    # Preparing is finance's (core/roles.py), like approving and paying.
    has_prepare_permission = role_permission(Role.FINANCE, model_permission="change")

    def changelist_view(self, request, extra_context=None):
        # The "prepare" button (object tools) is offered to those who may open the page only.
        extra_context = {**(extra_context or {}), "may_prepare": self.has_prepare_permission(request)}
        return super().changelist_view(request, extra_context)

    class PrepareForm(forms.Form):
        provider = forms.CharField(label=_("provider's national code"), max_length=12)
        year = forms.IntegerField(label=_("year"), min_value=2000, max_value=2100)
        assessment_percent = forms.DecimalField(label=_("assessment result (%)"), min_value=0, max_value=100,
                                                decimal_places=2, initial=100)

    def prepare_view(self, request):
        from pharmacies.models import Provider

        if not self.has_prepare_permission(request):
            raise PermissionDenied
        form = self.PrepareForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            provider = Provider.objects.filter(code=form.cleaned_data["provider"].strip()).first()
            if provider is None:
                form.add_error("provider", _("No provider with this code."))
            else:
                try:
                    settlement = year_end_prepare(provider=provider, year=form.cleaned_data["year"], user=request.user,
                                                  assessment_percent=form.cleaned_data["assessment_percent"])
                except DomainError as error:
                    form.add_error(None, str(error.message))
                else:
                    self.message_user(request, _("Year-end settlement prepared."), messages.SUCCESS)
                    return redirect("admin:claims_yearendsettlement_change", settlement.pk)
        return TemplateResponse(request, "admin/claims/year_end_form.html", {
            **self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
            "title": _("Prepare a year-end settlement"),
        })

    def print_view(self, request, pk):
        settlement = self._object(request, pk)
        return TemplateResponse(request, "claims/year_end_print.html", {
            "settlement": settlement, "rows": exports.year_end_rows(settlement),
        })

    def xlsx_view(self, request, pk):
        settlement = self._object(request, pk)
        return exports.year_end_xlsx([settlement], f"year-end-{settlement.file_key}-{settlement.year}.xlsx")

    @admin.action(description=_("Approve the selected year-end settlements"), permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._approve_selected(request, queryset, lambda pk, user: year_end_approve(settlement_id=pk, user=user),
                               _("%(count)d year-end settlements approved."))

    @admin.action(description=_("Export the selected year-end settlements (XLSX)"))
    def export_xlsx(self, request, queryset):
        return exports.year_end_xlsx(queryset.select_related("provider", "prepared_by", "approved_by", "paid_by"),
                                     "year-end-settlements.xlsx")
