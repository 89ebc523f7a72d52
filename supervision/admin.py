"""Admin for the rule library, the knowledge base, monitoring runs, flags and credit.

Actions call the services; refusals come back as messages. The dashboard is served at
/admin/supervision/flag/dashboard/ (staff only, through the admin site's own login).
"""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin import LargeTableMixin
from core.admin_actions import apply_to_selected
from core.errors import DomainError
from pharmacies.models import Provider

from . import services
from .dashboard import dashboard_data
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


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False  # the rules are code; their rows come with the migration

    def has_delete_permission(self, request, obj=None):
        return False


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
    model = FlagTransition
    extra = 0
    can_delete = False
    fields = ["at", "action", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _each(modeladmin, request, queryset, step, done_message):
    apply_to_selected(modeladmin, request, queryset.order_by("pk"), step, done_message=done_message)


@admin.register(Flag)
class FlagAdmin(LargeTableMixin, admin.ModelAdmin):
    list_display = ["pk", "rule", "status", "day", "provider", "member", "amount_at_stake", "confirmed_amount", "appeal_deadline"]
    list_select_related = ["rule", "provider", "member"]
    list_filter = ["status", "rule"]
    date_hierarchy = "day"
    search_fields = ["item_key", "provider__code"]
    inlines = [FlagTransitionInline]
    readonly_fields = [
        "rule", "item_key", "day", "provider", "member", "claim", "message", "evidence", "amount_at_stake", "status", "run",
        "created_at", "first_reviewer", "first_opinion", "second_reviewer", "confirmed_amount", "confirmed_on",
        "appeal_deadline", "appeal_reason", "appeal_decided_by", "appeal_decision", "deduction_reference",
    ]
    actions = ["first_review", "confirm", "dismiss", "uphold_appeal", "reject_appeal", "deduct"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(self.dashboard_view)
        return [path("dashboard/", view, name="supervision_dashboard"), *super().get_urls()]

    def dashboard_view(self, request):
        if not request.user.has_perm("supervision.view_flag"):
            messages.error(request, _("You may not do this."))
            return redirect("admin:index")
        try:
            year = int(request.GET.get("year") or timezone.localdate().year)
        except ValueError:
            year = timezone.localdate().year
        context = {**self.admin_site.each_context(request), "title": _("Supervision dashboard"), "year": year,
                   "data": dashboard_data(year), "opts": self.model._meta}
        return TemplateResponse(request, "admin/supervision/dashboard.html", context)

    @admin.action(description=_("First review (初审): mark the selected flags reviewed"), permissions=["change"])
    def first_review(self, request, queryset):
        _each(self, request, queryset, lambda f: services.flag_first_review(
            flag=f, user=request.user, opinion=str(_("Reviewed in the admin."))), _("%(count)s flags first-reviewed."))

    @admin.action(description=_("Second review (复审): confirm with the amount at stake"), permissions=["change"])
    def confirm(self, request, queryset):
        _each(self, request, queryset, lambda f: services.flag_confirm(flag=f, user=request.user, amount=f.amount_at_stake),
              _("%(count)s flags confirmed."))

    @admin.action(description=_("Second review (复审): dismiss"), permissions=["change"])
    def dismiss(self, request, queryset):
        _each(self, request, queryset, lambda f: services.flag_dismiss(flag=f, user=request.user),
              _("%(count)s flags dismissed."))

    @admin.action(description=_("Appeal: uphold (dismiss the flag)"), permissions=["change"])
    def uphold_appeal(self, request, queryset):
        _each(self, request, queryset, lambda f: services.flag_decide_appeal(flag=f, user=request.user, upheld=True),
              _("%(count)s appeals upheld."))

    @admin.action(description=_("Appeal: reject (the violation stands)"), permissions=["change"])
    def reject_appeal(self, request, queryset):
        _each(self, request, queryset, lambda f: services.flag_decide_appeal(flag=f, user=request.user, upheld=False),
              _("%(count)s appeals rejected."))

    @admin.action(description=_("Deduct confirmed amounts on the providers' next statements"), permissions=["change"])
    def deduct(self, request, queryset):
        _each(self, request, queryset, lambda f: services.flag_deduct(flag=f, user=request.user),
              _("%(count)s flags deducted."))


@admin.register(MemberCreditRecord)
class MemberCreditRecordAdmin(ReadOnlyAdmin):
    list_display = ["member", "day", "reason", "flag", "created_at"]
    list_select_related = ["member", "flag"]


@admin.register(ProviderCreditScore)
class ProviderCreditScoreAdmin(ReadOnlyAdmin):
    list_display = ["provider", "year", "score", "grade", "computed_at"]
    list_select_related = ["provider"]
    list_filter = ["year", "grade"]
    actions = ["recompute"]

    @admin.action(description=_("Recompute this year's scores for every provider"), permissions=["view"])
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
