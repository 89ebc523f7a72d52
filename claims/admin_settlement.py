"""Admin for region policy versions, settlements (read-only, reversible with a reason) and
members' benefit years. Imported at the bottom of claims/admin.py."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

from .models import Claim, ClaimLine, MemberYear, PolicyVersion
from .services import claim_reverse


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
    fields = ("position", "catalog_item", "quantity", "unit_price", "amount", "fully_self_paid", "over_limit", "class_b_prepay", "policy_scope")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReverseForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=200)


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ("id", "visit_date", "submitter", "external_ref", "member", "total", "fund", "account", "family_account", "cash", "status", "denied_reason")
    list_select_related = ("member", "provider")
    list_filter = ("status", "visit_place", "denied_reason", "year")
    search_fields = ("=external_ref", "=submitter")
    show_full_result_count = False  # never count a million-row table on every page
    inlines = [ClaimLineInline]
    actions = ["reverse_selected"]
    fieldsets = (
        (None, {"fields": ("status", "submitter", "external_ref", "provider", "remote_provider_code", "remote_provider_name",
                           "provider_level", "prescribed_by", "member", "payer", "visit_date", "visit_place", "temporary_visit",
                           "use_account", "policy_version")}),
        (_("breakdown"), {"fields": ("total", "fully_self_paid", "over_limit", "class_b_prepay", "policy_scope",
                                     "temporary_visit_prepay", "deductible", "pay_ratio_percent", "fund", "large_expense_subsidy",
                                     "personal_burden", "account", "family_account", "cash", "balance_after", "denied_reason",
                                     "counts_toward_annual_fund_maximum")}),
        (_("history"), {"fields": ("settled_at", "settled_by", "reversed_at", "reversed_by", "reversal_reason")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # computed amounts are read-only; reversal is the only change

    def has_delete_permission(self, request, obj=None):
        return False

    def has_reverse_permission(self, request):
        return request.user.has_perm("claims.change_claim")

    @admin.action(description=_("Reverse the selected settlements (with a reason)"), permissions=["reverse"])
    def reverse_selected(self, request, queryset):
        form = ReverseForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = 0
            for claim in queryset.order_by("pk"):
                try:
                    claim_reverse(user=request.user, settlement_id=claim.pk, reason=form.cleaned_data["reason"])
                    done += 1
                except DomainError as error:
                    self.message_user(request, f"{claim.pk}: {error.message}", messages.ERROR)
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


@admin.register(MemberYear)
class MemberYearAdmin(admin.ModelAdmin):
    list_display = ("member", "year", "deductible_met", "fund_paid", "cap", "cap_remaining", "large_expense_burden")
    list_select_related = ("member",)
    list_filter = ("year",)
    search_fields = ("=member__id_number",)
    show_full_result_count = False
    readonly_fields = ("member", "year", "deductible_met", "fund_paid", "cap", "large_expense_burden", "large_expense_subsidy_paid", "updated_at")

    @admin.display(description=_("cap remaining"))
    def cap_remaining(self, obj):
        return obj.cap_remaining

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MemberYearInline(admin.TabularInline):
    """The member's years on the member page: deductible met, fund paid, cap left."""

    model = MemberYear
    fk_name = "member"
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-year",)
    fields = ("year", "deductible_met", "fund_paid", "cap", "cap_remaining", "large_expense_burden")
    readonly_fields = fields
    verbose_name_plural = _("outpatient pooling by year")

    @admin.display(description=_("cap remaining"))
    def cap_remaining(self, obj):
        return obj.cap_remaining


def _add_years_to_member_page():
    # members never imports claims (app direction); claims adds its inline to the member page
    # registered by the members app, if that app registered one.
    from members.models import Member

    member_admin = admin.site._registry.get(Member)
    if member_admin is not None and MemberYearInline not in member_admin.inlines:
        member_admin.inlines = [*member_admin.inlines, MemberYearInline]


_add_years_to_member_page()
