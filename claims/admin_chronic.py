"""Admin for chronic and special diseases: the disease list, registrations (a case worker
proposes, another approves, revoke with a reason), the tallies, and the member page's list.
Every change goes through claims/chronic.py."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from core.admin import LargeTableMixin, ReadOnlyAdminMixin, ReadOnlyInlineMixin
from core.errors import DomainError
from core.regions import region_label
from members.admin import MemberAdmin, MemberSearchMixin, member_masked_id_number
from pharmacies.admin_workflow import ReasonForm, workflow_action

from . import chronic
from .models import ChronicRegistration, ChronicYear, Disease


@admin.register(Disease)
class DiseaseAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "group", "region_name"]
    list_filter = ["group"]
    search_fields = ["code", "name"]

    @admin.display(description=_("region"), ordering="region")
    def region_name(self, obj):
        return region_label(obj.region)


class RegistrationProposalForm(forms.ModelForm):
    """Adding a registration proposes it through the service (dates, overlaps, exclusions)."""

    class Meta:
        model = ChronicRegistration
        fields = ["member", "disease", "valid_from", "valid_to", "certified_by", "designated_provider"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = chronic.registration_propose(
                user=self.request_user, member=data["member"], disease=data["disease"], valid_from=data["valid_from"],
                valid_to=data.get("valid_to"), certified_by=data.get("certified_by"),
                designated_provider=data.get("designated_provider"),
            )
        except DomainError as error:
            raise ValidationError(f"{error.message} ({error.code})") from None
        return data


REGISTRATION_FACTS = ["member", "disease", "valid_from", "valid_to", "certified_by", "designated_provider"]
REGISTRATION_WORKFLOW = ["status", "imported", "proposed_by", "proposed_at", "approved_by", "approved_at",
                         "revoked_by", "revoked_at", "revoke_reason", "ended_by"]


@admin.register(ChronicRegistration)
class ChronicRegistrationAdmin(MemberSearchMixin, LargeTableMixin, SimpleHistoryAdmin):
    list_display = ["masked_member", "disease", "valid_from", "valid_to", "designated_provider", "status",
                    "proposed_by", "approved_by"]
    list_select_related = ["member", "disease", "designated_provider", "proposed_by", "approved_by"]
    list_filter = ["status", "disease__group", "imported"]
    autocomplete_fields = ["member", "certified_by", "designated_provider"]
    actions = ["approve", "revoke"]

    @admin.display(description=_("member"))
    def masked_member(self, obj):
        return member_masked_id_number(obj.member)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            form = super().get_form(request, obj, form=RegistrationProposalForm, **kwargs)
            form.request_user = request.user
            return form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return REGISTRATION_FACTS if obj is None else REGISTRATION_FACTS + REGISTRATION_WORKFLOW

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else REGISTRATION_FACTS + REGISTRATION_WORKFLOW

    def save_model(self, request, obj, form, change):
        # The proposal was made by the service in the form's clean(); nothing is edited afterwards.
        return

    def has_delete_permission(self, request, obj=None):
        return False

    approve = workflow_action(
        description=_("Approve the registration (not the proposer)"),
        call=lambda obj, actor: chronic.registration_approve(user=actor, registration=obj),
    )
    revoke = workflow_action(
        description=_("Revoke the registration (with a reason)"),
        form_class=ReasonForm,
        call=lambda obj, actor, **v: chronic.registration_revoke(user=actor, registration=obj, reason=v["reason"]),
    )


@admin.register(ChronicYear)
class ChronicYearAdmin(ReadOnlyAdminMixin, MemberSearchMixin, LargeTableMixin, admin.ModelAdmin):
    list_display = ["member", "year", "tally", "deductible_met", "fund_paid", "limit", "limit_remaining"]
    list_select_related = ["member"]
    list_filter = ["year"]
    readonly_fields = ["member", "year", "tally", "deductible_met", "fund_paid", "limit", "updated_at"]


class ChronicRegistrationInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The member page: the member's chronic and special disease registrations (read-only;
    proposals and decisions are made under 慢特病认定)."""

    model = ChronicRegistration
    fk_name = "member"
    fields = ["disease", "valid_from", "valid_to", "designated_provider", "status", "revoke_reason"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = _("chronic disease registrations")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("disease", "designated_provider")


MemberAdmin.inlines = [*MemberAdmin.inlines, ChronicRegistrationInline]
