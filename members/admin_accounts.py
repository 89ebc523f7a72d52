"""Admin for personal accounts, their ledger, credit runs, credit policies and withdrawal
decisions. Balances and entries are read-only: money moves only through services, which the
actions here call. Imported at the end of members/admin.py."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin import NoAddNoDeleteMixin, ReadOnlyAdminMixin, ReadOnlyInlineMixin
from core.admin_actions import apply_to_selected
from core.errors import DomainError
from core.formats import duration_label, month_label

from . import services
from .labels import reference_label, skip_reason_label
from .models import AccountDecision, CreditPolicy, CreditRule, CreditRun, LateRefund, LedgerEntry, PersonalAccount


class ReadOnlyInline(ReadOnlyInlineMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fk_name = "account"
    fields = ["created_at", "kind", "amount", "balance_after", "period", "reference_text", "memo", "created_by"]
    readonly_fields = fields
    ordering = ["-pk"]

    @admin.display(description=_("reference"))
    def reference_text(self, obj):
        return reference_label(obj.reference)


class PersonalAccountInline(ReadOnlyInline):
    """For the member page (members/admin.py may add it to the member's inlines)."""

    model = PersonalAccount
    fields = ["balance", "status", "opened_on", "closed_on", "statement_link"]
    readonly_fields = fields

    @admin.display(description=_("statement"))
    def statement_link(self, obj):
        return _statement_link(obj)


def _statement_link(account):
    if account is None or account.pk is None:
        return ""
    year = timezone.localdate().year
    url = reverse("members:account-statement", args=[account.member_id, year])
    return format_html('<a href="{}" target="_blank">{} {}</a>', url, _("statement"), year)


@admin.register(PersonalAccount)
class PersonalAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["masked_member", "balance", "status", "opened_on", "closed_on"]
    list_select_related = ["member"]
    list_filter = ["status"]
    search_fields = ["=member__id_number", "member__name"]
    show_full_result_count = False
    fields = ["member", "balance", "status", "opened_on", "closed_on", "carried_over_credits",
              "carried_over_as_of", "statement_link"]
    readonly_fields = fields
    inlines = [LedgerEntryInline]

    @admin.display(description=_("member"), ordering="member__name")
    def masked_member(self, obj):
        return str(obj.member)

    @admin.display(description=_("statement"))
    def statement_link(self, obj):
        return _statement_link(obj)


@admin.register(CreditRun)
class CreditRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["month_label", "region", "status", "members_credited", "total", "civil_servant_total",
                    "accounts_opened", "skipped_summary", "chunks_progress", "started_at", "duration"]
    list_filter = ["status", "region"]
    date_hierarchy = "month"
    fields = ["month", "region", "policy", "status", "started_at", "finished_at", "duration", "chunks_progress",
              "accounts_opened", "members_credited", "total", "civil_servant_total", "skipped_summary", "message",
              "started_by"]
    readonly_fields = fields

    @admin.display(description=_("credit month"), ordering="month")
    def month_label(self, obj):
        return month_label(obj.month)

    @admin.display(description=_("skipped, by reason"))
    def skipped_summary(self, obj):
        return "；".join(f"{skip_reason_label(reason)} {count}" for reason, count in sorted(obj.skipped.items())) or "—"

    @admin.display(description=_("chunks done"))
    def chunks_progress(self, obj):
        return f"{obj.chunks_done}/{obj.chunks_total}"

    @admin.display(description=_("duration"))
    def duration(self, obj):
        return duration_label(obj.duration)


class CreditRuleInline(ReadOnlyInline):
    model = CreditRule
    fields = ["position", "credit_kind", "cite", "valid_from", "valid_to", "employment_status", "category",
              "sector", "civil_servant_only", "min_age", "max_age", "basis", "percent", "divisor",
              "reference_year", "reference_sector", "anchor_month", "skip_reason_text", "note"]
    readonly_fields = fields

    @admin.display(description=_("reason when no credit"))
    def skip_reason_text(self, obj):
        return skip_reason_label(obj.skip_reason) if obj.skip_reason else "—"


@admin.register(CreditPolicy)
class CreditPolicyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Loaded from data files (load_policy / load_credit_policy), never typed in."""

    list_display = ["region", "version", "effective_from", "retiree_rates_from", "title", "loaded_at"]
    list_filter = ["region"]
    fields = ["region", "version", "title", "source", "effective_from", "retiree_rates_from", "allowed_premiums",
              "content_hash", "loaded_at", "loaded_by"]
    readonly_fields = fields
    inlines = [CreditRuleInline]


class DecisionProposalForm(forms.ModelForm):
    """Adding a decision proposes it through the service (which checks what it may be)."""

    heirs = forms.JSONField(
        required=False, initial=list, label=_("heirs"),
        help_text=_('Death only: [{"name": "…", "id_number": "…", "share_percent": "50"}, …]'),
    )

    class Meta:
        model = AccountDecision
        fields = ["account", "reason", "destination", "heirs", "note"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = services.account_withdrawal_propose(
                account=data["account"], reason=data["reason"], destination=data.get("destination", ""),
                heirs=data.get("heirs") or [], note=data.get("note", ""), user=self.request_user,
            )
        except DomainError as error:
            raise ValidationError(error.message, code=error.code) from None
        return data


@admin.register(AccountDecision)
class AccountDecisionAdmin(admin.ModelAdmin):
    list_display = ["account", "reason", "status", "amount", "proposed_by", "proposed_at", "decided_by", "decided_at"]
    list_select_related = ["account__member", "proposed_by", "decided_by"]
    list_filter = ["status", "reason"]
    search_fields = ["=account__member__id_number", "account__member__name"]
    autocomplete_fields = ["account"]
    actions = ["approve", "reject"]
    readonly_fields = ["status", "amount", "heirs_masked", "proposed_by", "proposed_at", "decided_by", "decided_at",
                       "rejection_reason"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            form = super().get_form(request, obj, form=DecisionProposalForm, **kwargs)
            form.request_user = request.user
            return form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["account", "reason", "destination", "heirs", "note"]
        return ["account", "reason", "destination", "heirs_masked", "note"] + [
            f for f in self.readonly_fields if f != "heirs_masked"
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["account", "reason", "destination", "note", *self.readonly_fields]

    @admin.display(description=_("heirs"))
    def heirs_masked(self, obj):
        from core.idnumber import mask_id_number

        return json.dumps([dict(heir, id_number=mask_id_number(heir["id_number"])) for heir in obj.heirs],
                          ensure_ascii=False)

    def save_model(self, request, obj, form, change):
        # The proposal was made by the service in the form's clean(); nothing is edited afterwards.
        return

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def _decide(self, request, queryset, decide, done_message):
        apply_to_selected(self, request, queryset.order_by("pk"), decide, done_message=done_message)

    @admin.action(description=_("Approve and execute the selected proposals"), permissions=["change"])
    def approve(self, request, queryset):
        self._decide(request, queryset, lambda d: services.account_withdrawal_approve(decision=d, user=request.user),
                     _("%(count)d proposals approved and executed."))

    @admin.action(description=_("Reject the selected proposals"), permissions=["change"])
    def reject(self, request, queryset):
        self._decide(
            request, queryset,
            lambda d: services.account_withdrawal_reject(decision=d, reason=str(_("rejected in the admin")),
                                                         user=request.user),
            _("%(count)d proposals rejected."),
        )


@admin.register(LateRefund)
class LateRefundAdmin(NoAddNoDeleteMixin, admin.ModelAdmin):
    """Refunds that reached an account after a withdrawal closed it, awaiting a case worker's
    approval to be paid out as the closing decision paid the balance."""

    list_display = ["account", "amount", "status", "decision", "created_at", "created_by", "decided_by", "decided_at"]
    list_select_related = ["account__member", "decision", "created_by", "decided_by"]
    list_filter = ["status"]
    search_fields = ["=account__member__id_number", "account__member__name"]
    actions = ["approve"]
    fields = ["account", "amount", "status", "decision", "entry", "created_at", "created_by", "decided_by", "decided_at"]
    readonly_fields = fields

    def has_change_permission(self, request, obj=None):
        # The list action approves; nothing is edited.
        return obj is None and super().has_change_permission(request, obj)

    @admin.action(description=_("Approve and pay out the selected refunds"), permissions=["change"])
    def approve(self, request, queryset):
        apply_to_selected(self, request, queryset.order_by("pk"),
                          lambda refund: services.account_late_refund_approve(refund=refund, user=request.user),
                          done_message=lambda done: _("%(count)d refunds paid out.") % {"count": done})
