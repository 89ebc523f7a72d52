"""Admin for chronic and special diseases: the disease list, registrations (a case worker
proposes, another approves, revoke with a reason), the tallies, and the member page's list.
Every change goes through claims/chronic.py."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Substr
from django.utils.translation import gettext_lazy as _

from core.admin import LargeTableMixin, ReadOnlyAdminMixin, ReadOnlyInlineMixin
from core.errors import DomainError
from core.imports.admin import ImportMixin
from members.admin import MemberSearchMixin, member_masked_id_number
from pharmacies.admin_workflow import ReasonForm, workflow_action

from . import chronic
from .chronic_resources import ChronicRegistrationResource, DiseaseResource
from .member_page import tally_label
from .models import ChronicRegistration, ChronicYear, Disease


@admin.register(Disease)
class DiseaseAdmin(ImportMixin, admin.ModelAdmin):
    """The deployment region's list (a disease is always the deployment's REGION)."""

    resource_classes = [DiseaseResource]
    list_display = ["code", "name", "group"]
    list_filter = ["group"]
    search_fields = ["code", "name"]
    exclude = ["region"]

    def get_queryset(self, request):
        from django.conf import settings

        return super().get_queryset(request).filter(region=settings.REGION)

    def save_model(self, request, obj, form, change):
        from django.conf import settings

        obj.region = settings.REGION
        super().save_model(request, obj, form, change)


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
            raise ValidationError(error.message, code=error.code) from None
        return data


REGISTRATION_FACTS = ["member", "disease", "valid_from", "valid_to", "certified_by", "designated_provider"]
REGISTRATION_WORKFLOW = ["status", "imported", "proposed_by", "proposed_at", "approved_by", "approved_at",
                         "revoked_by", "revoked_at", "revoke_reason", "ended_by"]


@admin.register(ChronicRegistration)
class ChronicRegistrationAdmin(ImportMixin, MemberSearchMixin, LargeTableMixin, admin.ModelAdmin):
    # Every decision is an audit event (core.audit); the model keeps its simple-history rows.
    resource_classes = [ChronicRegistrationResource]
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
    # Deciding a registration is the case workers' (claims "change", core/roles.py): not offered
    # to the roles that only read it (the services check no role).
    approve.allowed_permissions = revoke.allowed_permissions = ("change",)


@admin.register(ChronicYear)
class ChronicYearAdmin(ReadOnlyAdminMixin, MemberSearchMixin, LargeTableMixin, admin.ModelAdmin):
    list_display = ["member", "year", "tally_display", "deductible_met", "fund_paid", "limit", "limit_remaining"]
    list_select_related = ["member"]
    list_filter = ["year"]
    readonly_fields = ["member", "year", "tally_display", "deductible_met", "fund_paid", "limit", "updated_at"]
    exclude = ["tally"]

    def get_queryset(self, request):
        # The disease's name for "disease:<code>" tallies in the page's one query.
        name = Disease.objects.filter(code=Substr(OuterRef("tally"), 9)).order_by("pk").values("name")[:1]
        return super().get_queryset(request).annotate(tally_disease_name=Subquery(name))

    @admin.display(description=_("tally"), ordering="tally")
    def tally_display(self, obj):
        """The disease's or the group's name, as on the member page (never the raw code)."""
        if obj.tally.startswith("disease:") and getattr(obj, "tally_disease_name", None):
            return obj.tally_disease_name
        return tally_label(obj.tally)


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


def _add_registrations_to_member_page():
    # As claims.admin_settlement does for the benefit years: on the registered instance (whose
    # own `inlines` then shadows the class's), if the members app registered a member page.
    from members.models import Member

    member_admin = admin.site._registry.get(Member)
    if member_admin is not None and ChronicRegistrationInline not in member_admin.inlines:
        member_admin.inlines = [*member_admin.inlines, ChronicRegistrationInline]


_add_registrations_to_member_page()
