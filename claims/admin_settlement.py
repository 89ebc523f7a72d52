"""Admin for region policy versions, settlements (read-only, reversible with a reason) and
members' benefit years. Imported at the bottom of claims/admin.py."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdminMixin, ReadOnlyInlineMixin
from core.admin_filters import DateRangeFilter
from core.errors import DomainError
from core.idnumber import mask_id_number
from core.imports.admin import ImportMixin
from members.admin import search_members

from .chronic_resources import InpatientTotalsResource
from .explanation import DENIED_REASON_LABELS
from .levels import LEVEL_ORDER, level_label
from .models import Claim, ClaimLine, MemberYear, PolicyVersion, open_parameters
from .services import claim_reverse
from .statements.exports import settlements_xlsx


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    list_display = ("region", "kind", "effective_from", "effective_to", "title", "in_use")
    list_filter = ("region", "kind")
    ordering = ("region", "kind", "-effective_from")
    fields = ("region", "kind", "effective_from", "effective_to", "title", "source", "parameters", "against_text", "created_by", "created_at")
    readonly_fields = ("against_text", "created_by", "created_at")

    @admin.display(description=_("against the policy text"))
    def against_text(self, obj):
        """Each number the region's text only bounds (Yangzhou 二(一)2), next to this version's
        value: the text's words, the agency's choice, within or outside the bound."""
        rows = obj.text_comparison() if obj is not None and obj.region else []
        if not rows:
            return _("The text fixes this region's numbers itself; none is only bounded.")
        state = {True: _("within the text's bound"), False: _("outside the text's bound"), None: _("not set yet")}
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("parameter"), _("the text says"), _("this version (the agency's choice)"), _("check"),
            format_html_join(
                "", "<tr><td><code>{}</code></td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                ((row.path, row.article, row.text, row.value or "—", state[row.within]) for row in rows),
            ),
        )

    @admin.display(boolean=True, description=_("used to settle"))
    def in_use(self, obj):
        return obj.is_used

    def get_readonly_fields(self, request, obj=None):
        # A version that has settled claims is never edited: add a new version from a date.
        if obj is not None and obj.is_used:
            # Except its open (null) parameters, which may be set once (the model refuses any
            # other change): Jinan (七)'s second-payment ratio.
            if open_parameters(obj.parameters):
                return tuple(field for field in self.fields if field != "parameters")
            return self.fields
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_used:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        # The form already ran the model's validation (PolicyVersion.clean: the format of
        # FORMAT.md, overlapping dates, the used-version guard) before this is reached.
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class ClaimLineInline(admin.TabularInline):
    model = ClaimLine
    extra = 0
    can_delete = False
    # 序号 from 1 (ClaimLine.number), as the portal shows it; the stored position counts from 0.
    fields = ("number", "catalog_item", "quantity", "unit_price", "amount", "fully_self_paid", "over_limit", "class_b_prepay", "policy_scope")
    readonly_fields = fields

    @admin.display(description=_("position"))
    def number(self, obj):
        return obj.number

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PolicyLevelFilter(admin.SimpleListFilter):
    """The policy level a settlement applied (the supervision dashboard's level bars link here);
    "none" is a settlement with no level (a pharmacy)."""

    title = _("policy level applied")
    parameter_name = "provider_level"
    NONE = "none"

    def lookups(self, request, model_admin):
        return [(level or self.NONE, level_label(level)) for level in LEVEL_ORDER]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(provider_level="" if value == self.NONE else value)


class ReverseForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200)


@admin.register(Claim)
class ClaimAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # The status right after who and what (issue 16: at 1366 px a status after the six amounts
    # was cut off); the provider's transaction number, looked up by search, comes last.
    list_display = ("id", "visit_date", "provider_name", "member", "benefit", "status", "total", "fund",
                    "account", "family_account", "cash", "denied_reason_label", "external_ref")
    list_select_related = ("member", "provider")
    list_filter = ("status", "benefit", ("visit_date", DateRangeFilter), ("provider", admin.RelatedOnlyFieldListFilter),
                   PolicyLevelFilter, "visit_place", "year")
    search_fields = ("=external_ref", "member__id_number", "member__name")  # see get_search_results
    search_help_text = _("The provider's transaction number, or the member: full ID number, its first or last "
                         "four digits, the masked number, or any part of the name.")
    show_full_result_count = False  # never count a million-row table on every page
    inlines = [ClaimLineInline]
    actions = ["reverse_selected", "export_xlsx"]
    fieldsets = (
        (None, {"fields": ("status", "benefit", "submitter", "external_ref", "provider", "remote_provider_code",
                           "remote_provider_name", "provider_level_text", "prescribed_by", "member", "payer", "treated",
                           "visit_date",
                           "visit_place", "temporary_visit", "use_account", "policy_version")}),
        (_("why it paid this"), {"fields": ("calculation",)}),
        (_("breakdown"), {"fields": ("total", "fully_self_paid", "over_limit", "class_b_prepay", "policy_scope",
                                     "temporary_visit_prepay", "deductible", "pay_ratio_percent", "fund", "large_expense_subsidy",
                                     "other_insurance_paid", "not_account_payable",
                                     "personal_burden", "account", "family_account", "cash", "balance_after", "denied_reason_label",
                                     "counts_toward_annual_fund_maximum")}),
        (_("history"), {"fields": ("settled_at", "settled_by", "reversed_at", "reversed_by", "reversal_reason")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        # The provider's transaction number exactly, or the member as members are searched.
        return queryset.filter(external_ref=term) | search_members(queryset, term, prefix="member__"), False

    @admin.display(description=_("provider"), ordering="provider__name")
    def provider_name(self, obj):
        return obj.provider.name if obj.provider_id else obj.remote_provider_name or obj.submitter

    @admin.display(description=_("policy level applied"))
    def provider_level_text(self, obj):
        return level_label(obj.provider_level) if obj.provider_level else "—"

    @admin.display(description=_("relative outside the registry"))
    def treated(self, obj):
        """An account-only settlement for a relative outside the registry: name, masked ID."""
        if not obj.treated_id_number:
            return "-"
        return f"{obj.treated_name} {mask_id_number(obj.treated_id_number)}"

    @admin.display(description=_("reason the benefit did not apply"))
    def denied_reason_label(self, obj):
        return DENIED_REASON_LABELS.get(obj.denied_reason, obj.denied_reason) if obj.denied_reason else "-"

    @admin.display(description=_("calculation, step by step"))
    def calculation(self, obj):
        return format_html(
            "<ol class=\"explanation\">{}</ol>",
            format_html_join("", "<li>{}{}</li>", (
                (step.text, format_html(" <em>（{}）</em>", step.article) if step.article else "")
                for step in obj.explanation()
            )),
        )

    def has_reverse_permission(self, request):
        return request.user.has_perm("claims.change_claim")

    def get_urls(self):
        reverse_one = self.admin_site.admin_view(self.reverse_one_view)
        return [path("<int:pk>/reverse/", reverse_one, name="claims_claim_reverse"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "may_reverse": self.has_reverse_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _reverse(self, request, claim, reason) -> bool:
        """Reverse one settlement, or say plainly why not (already reversed, refused)."""
        if claim.status == Claim.Status.REVERSED:
            self.message_user(request, _("Settlement %(id)s was already reversed on %(when)s.") % {
                "id": claim.pk, "when": date_format(timezone.localtime(claim.reversed_at), "DATETIME_FORMAT"),
            }, messages.WARNING)
            return False
        try:
            claim_reverse(user=request.user, settlement_id=claim.pk, reason=reason)
        except DomainError as error:
            self.message_user(request, f"{claim.pk}: {error.message}", messages.ERROR)
            return False
        return True

    def reverse_one_view(self, request, pk):
        """Reverse from the settlement's own page, with a reason."""
        if not self.has_reverse_permission(request):
            raise PermissionDenied
        claim = get_object_or_404(Claim.objects.select_related("member"), pk=pk)
        change_url = reverse("admin:claims_claim_change", args=[claim.pk])
        form = ReverseForm(request.POST or None)
        if claim.status == Claim.Status.REVERSED:
            self._reverse(request, claim, "")
            return redirect(change_url)
        if request.method == "POST" and form.is_valid():
            if self._reverse(request, claim, form.cleaned_data["reason"]):
                self.message_user(request, _("Settlement %(id)s reversed.") % {"id": claim.pk}, messages.SUCCESS)
            return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reverse settlement %(id)s") % {"id": claim.pk},
            "claims": [claim], "form": form, "opts": self.model._meta, "single": True,
            "cancel_url": change_url,
        }
        return TemplateResponse(request, "admin/claims/claim/reverse.html", context)

    @admin.action(description=_("Reverse the selected settlements (with a reason)"), permissions=["reverse"])
    def reverse_selected(self, request, queryset):
        form = ReverseForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = sum(self._reverse(request, claim, form.cleaned_data["reason"]) for claim in queryset.order_by("pk"))
            if done:
                self.message_user(request, _("%(count)d settlements reversed.") % {"count": done}, messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reverse settlements"),
            "claims": queryset.select_related("member"),
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/claims/claim/reverse.html", context)

    @admin.action(description=_("Export the selected settlements (XLSX)"))
    def export_xlsx(self, request, queryset):
        claims = queryset.select_related("member").order_by("pk")
        return settlements_xlsx(claims, f"settlements-{timezone.localdate():%Y%m%d}.xlsx", headings=True)


@admin.register(MemberYear)
class MemberYearAdmin(ImportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The members' benefit years, read-only, with the import of the inpatient system's yearly
    totals per member (住院费用导入: the same parser as `import_inpatient_totals`, preview then
    confirm; the import changes only the inpatient columns)."""

    resource_classes = [InpatientTotalsResource]
    list_display = ("member", "year", "deductible_met", "fund_paid", "cap", "cap_remaining", "large_expense_burden")
    list_select_related = ("member",)
    list_filter = ("year",)
    search_fields = ("=member__id_number",)
    show_full_result_count = False
    readonly_fields = ("member", "year", "deductible_met", "fund_paid", "cap", "large_expense_burden", "large_expense_subsidy_paid", "large_expense_pending_base", "updated_at")

    @admin.display(description=_("cap remaining"))
    def cap_remaining(self, obj):
        return "-" if obj.cap_remaining is None else obj.cap_remaining


class MemberYearInline(admin.TabularInline):
    """The member's years on the member page: deductible met, fund paid, cap left."""

    model = MemberYear
    fk_name = "member"
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-year",)
    fields = ("year", "deductible_met", "fund_paid", "cap", "cap_remaining", "large_expense_burden", "large_expense_pending_base")
    readonly_fields = fields
    verbose_name_plural = _("outpatient pooling by year")

    @admin.display(description=_("cap remaining"))
    def cap_remaining(self, obj):
        return "-" if obj.cap_remaining is None else obj.cap_remaining


class RecentSettlementsFormSet(forms.BaseInlineFormSet):
    """The member's latest settlements only (a member may have thousands)."""

    LIMIT = 20

    def get_queryset(self):
        return super().get_queryset().select_related("provider").order_by("-visit_date", "-pk")[: self.LIMIT]


class MemberSettlementsInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The member page answers the phone call: the latest settlements, each linked to its page
    (why it paid this, reversal). Read-only; the full list is the settlements list searched by
    the member."""

    model = Claim
    fk_name = "member"
    formset = RecentSettlementsFormSet
    max_num = 0
    verbose_name_plural = _("latest settlements (20)")
    fields = ("settlement_link", "visit_date", "provider_name", "benefit", "total", "fund", "account", "cash", "status")
    readonly_fields = fields

    @admin.display(description=_("settlement"))
    def settlement_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:claims_claim_change", args=[obj.pk]), obj.external_ref)

    @admin.display(description=_("provider"))
    def provider_name(self, obj):
        return obj.provider.name if obj.provider_id else obj.remote_provider_name or obj.submitter


def _add_years_to_member_page():
    # members never imports claims (app direction); claims adds its inlines to the member page
    # registered by the members app, if that app registered one.
    from members.models import Member

    member_admin = admin.site._registry.get(Member)
    if member_admin is None:
        return
    for inline in (MemberYearInline, MemberSettlementsInline):
        if inline not in member_admin.inlines:
            member_admin.inlines = [*member_admin.inlines, inline]


_add_years_to_member_page()
