"""Admin for the rule library, the knowledge base, monitoring runs, flags and credit.

Actions call the services; refusals come back as messages. The dashboard is served at
/admin/supervision/flag/dashboard/ (staff only, through the admin site's own login).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from core.admin import LargeTableMixin, NoAddNoDeleteMixin, ReadOnlyAdminMixin
from core.admin_actions import apply_to_selected, role_permission
from core.audit_labels import action_label
from core.errors import DomainError
from core.params import year_or_default
from core.people import person_name
from core.roles import Role
from pharmacies.models import Provider

from . import services
from .dashboard import CONFIRMED, OPEN, chart_data, dashboard_summary, dashboard_tables, summary_rows
from .evidence import evidence_table, money
from .exports import dashboard_xlsx
from .flag_steps import STEP_FORMS
from .models import (
    Flag,
    FlagTransition,
    FrequencyLimit,
    MemberCreditRecord,
    MonitoringRun,
    ProviderCreditScore,
    RepeatedChargePair,
    Rule,
    RulebaseBatch,
    RulebaseImport,
    SexRestrictedDrug,
    SupplyStandard,
)
from .rules import RULES, parameters_of


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows written by the monitoring and the services only."""


@admin.register(Rule)
class RuleAdmin(NoAddNoDeleteMixin, admin.ModelAdmin):
    # No add, no delete: the rules are code; their rows come with the migration
    # The rule's code stays in the database and the API; people read its name and description.
    list_display = ["title", "description", "enabled", "effective_from", "effective_to", "updated_at"]
    list_filter = ["enabled"]
    search_fields = ["code", "description"]
    readonly_fields = ["parameters_in_force", "updated_at"]
    fields = ["description", "enabled", "effective_from", "effective_to", "parameters", "parameters_in_force", "updated_at"]

    @admin.display(description=_("rule"), ordering="description")
    def title(self, obj):
        return obj.title

    @admin.display(description=_("parameters in force (defaults overlaid)"))
    def parameters_in_force(self, obj):
        return parameters_of(obj.code, obj.parameters) if obj.code in RULES else "-"


@admin.register(SexRestrictedDrug)
class SexRestrictedDrugAdmin(LargeTableMixin, ReadOnlyAdmin):
    list_display = ["drug_code", "generic_name", "sex"]
    list_filter = ["sex"]
    search_fields = ["drug_code", "generic_name"]


@admin.register(RepeatedChargePair)
class RepeatedChargePairAdmin(ReadOnlyAdmin):
    list_display = ["number", "period", "main_code", "main_name", "included_code", "included_name"]
    list_filter = ["period"]
    search_fields = ["main_code", "included_code", "main_name", "included_name"]


@admin.register(FrequencyLimit)
class FrequencyLimitAdmin(ReadOnlyAdmin):
    list_display = ["number", "item_code", "item_name", "max_count", "unit"]
    search_fields = ["item_code", "item_name"]


@admin.register(SupplyStandard)
class SupplyStandardAdmin(admin.ModelAdmin):
    list_display = ["item_code", "daily_quantity", "chronic"]
    list_filter = ["chronic"]
    search_fields = ["item_code"]


class RulebaseUploadForm(forms.Form):
    file = forms.FileField(label=_("spreadsheet (.xlsx)"))
    batch = forms.ChoiceField(label=_("batch"), choices=[("", _("detect from the headers")), *RulebaseBatch.choices],
                              required=False)


@admin.register(RulebaseImport)
class RulebaseImportAdmin(ReadOnlyAdmin):
    list_display = ["batch", "file_name", "rows", "imported_at", "imported_by"]
    list_select_related = ["imported_by"]
    change_list_template = "admin/supervision/rulebaseimport/change_list.html"

    def get_urls(self):
        upload = self.admin_site.admin_view(self.upload_view)
        return [path("upload/", upload, name="supervision_rulebaseimport_upload"), *super().get_urls()]

    def upload_view(self, request):
        if not request.user.has_perm("supervision.add_rule") and not request.user.has_perm("supervision.change_rule"):
            messages.error(request, _("You may not do this."))
            return redirect("admin:supervision_rulebaseimport_changelist")
        form = RulebaseUploadForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                record = services.rulebase_import(source=upload, batch=form.cleaned_data["batch"] or None,
                                                  file_name=upload.name, user=request.user)
            except DomainError as error:
                errors = error.details.get("errors", [str(error.message)])
            else:
                messages.success(request, _("Batch %(batch)s replaced: %(rows)s rows.") % {"batch": record.batch, "rows": record.rows})
                return redirect("admin:supervision_rulebaseimport_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "errors": errors, "opts": self.model._meta,
                   "title": _("Import a national rule library batch")}
        return TemplateResponse(request, "admin/supervision/rulebase_upload.html", context)


@admin.register(MonitoringRun)
class MonitoringRunAdmin(ReadOnlyAdmin):
    list_display = ["pk", "date_from", "date_to", "started_at", "finished_at", "claims_checked", "flags_raised"]
    readonly_fields = ["date_from", "date_to", "started_at", "finished_at", "rules_run", "claims_checked", "flags_raised",
                       "per_rule", "started_by"]


class FlagTransitionInline(admin.TabularInline):
    """The case's history: when, which step, from and to which state, who, and their words."""

    model = FlagTransition
    extra = 0
    can_delete = False
    fields = ["at", "step", "from_state", "to_state", "actor_name", "note"]
    readonly_fields = fields
    verbose_name_plural = _("history of the case")

    @admin.display(description=_("step"))
    def step(self, obj):
        return step_label(obj)

    @admin.display(description=_("from state"))  # "from" alone reads 起始日期 (a date range's start)
    def from_state(self, obj):
        return _status_label(obj.from_status)

    @admin.display(description=_("to state"))
    def to_state(self, obj):
        return _status_label(obj.to_status)

    @admin.display(description=_("by"))
    def actor_name(self, obj):
        return person_name(obj.actor) if obj.actor_id else "-"

    def has_add_permission(self, request, obj=None):
        return False


def _status_label(status: str) -> str:
    return str(Flag.Status(status).label) if status in Flag.Status.values else (status or "-")


def step_label(transition: FlagTransition) -> str:
    return _("raised by monitoring") if transition.action == "raise" else action_label(f"supervision.flag.{transition.action}")


def transition_rows(flag: Flag) -> list[dict]:
    """The flag's steps in order, in words: when, which step, from and to which state, who, and their words."""
    return [
        {"at": t.at, "step": step_label(t), "from_state": _status_label(t.from_status), "to_state": _status_label(t.to_status),
         "by": person_name(t.actor) if t.actor_id else "-", "note": t.note}
        for t in flag.transitions.select_related("actor").order_by("pk")
    ]


def _each(modeladmin, request, queryset, step, done_message):
    apply_to_selected(modeladmin, request, queryset.order_by("pk"), step, done_message=done_message)


class FlagStageFilter(admin.SimpleListFilter):
    """Open (awaiting a reviewer or the appeal's decision) or confirmed (deducted or not): the
    dashboard's figures link here, so the list says which flags it shows."""

    title = _("stage")
    parameter_name = "stage"
    STAGES = {"open": OPEN, "confirmed": CONFIRMED}

    def lookups(self, request, model_admin):
        return [("open", _("open (awaiting review or appeal)")), ("confirmed", _("confirmed (deducted or not)"))]

    def queryset(self, request, queryset):
        statuses = self.STAGES.get(self.value())
        return queryset if statuses is None else queryset.filter(status__in=statuses)


@admin.register(Flag)
class FlagAdmin(NoAddNoDeleteMixin, LargeTableMixin, admin.ModelAdmin):
    list_display = ["pk", "rule", "status", "day", "provider", "member", "amount_at_stake", "confirmed_amount", "appeal_deadline"]
    list_select_related = ["rule", "provider", "member"]
    list_filter = [FlagStageFilter, "status", "rule"]
    date_hierarchy = "day"
    search_fields = ["item_key", "provider__code"]
    inlines = [FlagTransitionInline]
    object_history_template = "admin/supervision/flag/object_history.html"
    # The item key is the monitoring run's code for what was judged (line:120): never shown; the
    # settlements are shown as evidence (linked), never chosen from a list.
    # The evidence JSON is shown in words (evidence_details), never as JSON.
    exclude = ["item_key", "claim", "first_reviewer", "second_reviewer", "appeal_decided_by", "evidence"]
    readonly_fields = [
        "rule", "rule_description", "day", "provider", "member", "message", "evidence_settlements", "amount_at_stake",
        "status", "run", "created_at", "first_reviewer_name", "first_opinion", "second_reviewer_name", "confirmed_amount",
        "confirmed_on", "appeal_deadline", "appeal_reason", "appeal_decided_by_name", "appeal_decision", "deduction_reference",
        "evidence_details",
    ]
    # The review steps are taken one flag at a time on its own page (each with the auditor's
    # opinion and amount, supervision.flag_steps); only the deduction of cases decided is bulk.
    actions = ["deduct"]

    @admin.display(description=_("rule description"))
    def rule_description(self, obj):
        return obj.rule.description

    # Who took each step, by name (王芳), never the username.
    @admin.display(description=_("first reviewer"))
    def first_reviewer_name(self, obj):
        return person_name(obj.first_reviewer) if obj.first_reviewer_id else "-"

    @admin.display(description=_("second reviewer"))
    def second_reviewer_name(self, obj):
        return person_name(obj.second_reviewer) if obj.second_reviewer_id else "-"

    @admin.display(description=_("appeal decided by"))
    def appeal_decided_by_name(self, obj):
        return person_name(obj.appeal_decided_by) if obj.appeal_decided_by_id else "-"

    @admin.display(description=_("evidence"))
    def evidence_details(self, obj):
        """The evidence JSON as a table of Chinese labels and formatted values (supervision.evidence).
        Its settlements are left out: the page lists them once, above (evidence_settlements, with
        the provider and the total), as the portal's flag page does."""
        return evidence_table(obj.evidence or {}, leave_out=("claims",),
                              settlement_url=lambda claim: reverse("admin:claims_claim_change", args=[claim.pk]))

    def history_view(self, request, object_id, extra_context=None):
        """流转记录: the flag's workflow steps (FlagTransition), not the admin's own change log,
        which is empty (every step goes through a service)."""
        flag = self.get_object(request, unquote(object_id))
        rows = transition_rows(flag) if flag is not None else []
        title = _("History of the case: %(flag)s") % {"flag": flag} if flag is not None else None
        return super().history_view(request, object_id, {**(extra_context or {}), "transitions": rows, "title": title})

    @admin.display(description=_("evidence: settlements"))
    def evidence_settlements(self, obj):
        from claims.models import Claim

        ids = [pk for pk in (obj.evidence or {}).get("claims", []) if isinstance(pk, int)] or (
            [obj.claim_id] if obj.claim_id else [])
        claims = Claim.objects.filter(pk__in=ids).select_related("provider").order_by("visit_date", "pk")
        return format_html_join(mark_safe("<br>"), '<a href="{}">{} · {} · {} · {}</a>', (
            (reverse("admin:claims_claim_change", args=[c.pk]), c.visit_date, c.provider.name if c.provider_id else "",
             c.external_ref, money(c.total)) for c in claims
        )) or "-"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        flag = self.get_object(request, object_id)
        step = STEP_FORMS.get(flag.status) if flag else None
        extra_context = {**(extra_context or {}), "step_title": step.title if step else None}
        return super().change_view(request, object_id, form_url, extra_context)

    def step_view(self, request, pk):
        """The next step of one flag, with its own form (opinion, amount, reasons)."""
        flag = get_object_or_404(Flag.objects.select_related("rule", "provider", "member"), pk=pk)
        if not self.has_change_permission(request, flag):
            raise PermissionDenied
        change_url = reverse("admin:supervision_flag_change", args=[flag.pk])
        form_class = STEP_FORMS.get(flag.status)
        if form_class is None:
            self.message_user(request, _("This flag has no review step waiting."), messages.WARNING)
            return redirect(change_url)
        form = form_class(request.POST or None, flag=flag)
        if request.method == "POST" and form.is_valid():
            try:
                done = form.apply(request.user)
            except DomainError as error:
                form.add_error(error.details.get("field") if error.details.get("field") in form.fields else None, error.message)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return redirect(change_url)
        context = {**self.admin_site.each_context(request), "title": form_class.title, "flag": flag, "form": form,
                   "opts": self.model._meta, "evidence": self.evidence_settlements(flag), "change_url": change_url}
        return TemplateResponse(request, "admin/supervision/flag/step.html", context)

    def get_urls(self):
        view = self.admin_site.admin_view(self.dashboard_view)
        export = self.admin_site.admin_view(self.dashboard_export_view)
        step = self.admin_site.admin_view(self.step_view)
        return [path("dashboard/", view, name="supervision_dashboard"),
                path("dashboard/export/", export, name="supervision_flag_dashboard_export"),
                path("<int:pk>/step/", step, name="supervision_flag_step"), *super().get_urls()]

    def _dashboard_year(self, request) -> int:
        return year_or_default(request.GET.get("year"), timezone.localdate().year)

    def dashboard_view(self, request):
        if not request.user.has_perm("supervision.view_flag"):
            messages.error(request, _("You may not do this."))
            return redirect("admin:index")
        year = self._dashboard_year(request)
        summary = dashboard_summary(year, timezone.localdate())
        tables = dashboard_tables(year)
        context = {**self.admin_site.each_context(request), "title": _("Supervision dashboard"), "year": year,
                   "summary": summary, "summary_rows": summary_rows(summary), "tables": tables,
                   "data": chart_data(tables), "opts": self.model._meta,
                   "export_url": f"{reverse('admin:supervision_flag_dashboard_export')}?year={year}"}
        return TemplateResponse(request, "admin/supervision/dashboard.html", context)

    def dashboard_export_view(self, request):
        """The dashboard's figures as XLSX: for whoever may see the dashboard."""
        if not request.user.has_perm("supervision.view_flag"):
            messages.error(request, _("You may not do this."))
            return redirect("admin:index")
        year = self._dashboard_year(request)
        return dashboard_xlsx(dashboard_summary(year, timezone.localdate()), dashboard_tables(year),
                              f"supervision-dashboard-{year}.xlsx")

    # The service is the auditors' (supervision.services.flag_deduct): finance approves the
    # statement the deduction lands on, never adds to it.
    has_deduct_permission = role_permission(Role.AUDITOR, model_permission="change")

    @admin.action(description=_("Deduct confirmed amounts on the providers' next statements"), permissions=["deduct"])
    def deduct(self, request, queryset):
        _each(self, request, queryset, lambda f: services.flag_deduct(flag=f, user=request.user),
              _("%(count)s flags deducted."))


@admin.register(MemberCreditRecord)
class MemberCreditRecordAdmin(ReadOnlyAdmin):
    list_display = ["member", "day", "reason", "flag", "created_at"]
    list_select_related = ["member", "flag__rule"]


@admin.register(ProviderCreditScore)
class ProviderCreditScoreAdmin(ReadOnlyAdmin):
    list_display = ["provider", "year", "score", "grade", "computed_at"]
    list_select_related = ["provider"]
    list_filter = ["year", "grade"]
    actions = ["recompute"]

    # The service is the auditors' (supervision.services.provider_credit_compute).
    has_recompute_permission = role_permission(Role.AUDITOR)

    @admin.action(description=_("Recompute this year's scores for every provider"), permissions=["recompute"])
    def recompute(self, request, queryset):
        try:
            count = services.provider_credit_compute(year=timezone.localdate().year, user=request.user)
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, _("%(count)s scores computed.") % {"count": count}, messages.SUCCESS)


class ProviderCreditScoreInline(admin.TabularInline):
    """The provider's credit scores on its admin page (supervision adds itself: pharmacies
    never imports supervision)."""

    model = ProviderCreditScore
    extra = 0
    can_delete = False
    fields = ["year", "score", "grade", "details", "computed_at"]
    readonly_fields = fields
    verbose_name_plural = _("credit scores")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _attach_credit_inline() -> None:
    provider_admin = admin.site._registry.get(Provider)
    if provider_admin is not None and ProviderCreditScoreInline not in provider_admin.inlines:
        provider_admin.inlines = [*provider_admin.inlines, ProviderCreditScoreInline]


_attach_credit_inline()


def dashboard_url() -> str:
    return reverse("admin:supervision_dashboard")
