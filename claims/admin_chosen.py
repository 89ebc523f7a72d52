"""Admin (经办) for members' chosen institutions (人员定点备案, Jinan (四)): the list, a new
registration, end and change actions, and a read-only list on the member page. Every change
goes through claims/chosen_institutions.py."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.admin import LargeTableMixin, ReadOnlyInlineMixin
from core.errors import DomainError
from members.admin import MemberSearchMixin, member_masked_id_number
from pharmacies.admin_workflow import workflow_action
from pharmacies.models import Provider

from . import chosen_institutions as service
from .models import ChosenInstitution


class ChosenInstitutionForm(forms.ModelForm):
    """Adding one registers it through the service (dates, overlaps, the number allowed)."""

    class Meta:
        model = ChosenInstitution
        fields = ["member", "provider", "valid_from", "valid_to", "memo"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = service.chosen_institution_register(
                user=self.request_user, member=data["member"], provider=data["provider"], valid_from=data["valid_from"],
                valid_to=data.get("valid_to"), source=ChosenInstitution.Source.ADMIN, memo=data.get("memo") or "",
            )
        except DomainError as error:
            raise ValidationError(str(error.message)) from None
        return data


class EndForm(forms.Form):
    last_day = forms.DateField(label=_("last day"), initial=timezone.localdate, widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 3}))


class ChangeForm(forms.Form):
    provider = forms.ModelChoiceField(
        label=_("new designated institution"), queryset=Provider.objects.filter(kind=Provider.Kind.INSTITUTION).order_by("code"),
    )
    from_day = forms.DateField(label=_("from"), initial=timezone.localdate, widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 3}))


FACTS = ["member", "provider", "valid_from", "valid_to", "memo"]
RECORD = ["source", "sort_no", "application_type", "created_by", "created_at", "ended_by", "ended_at", "end_reason", "cancelled"]


@admin.register(ChosenInstitution)
class ChosenInstitutionAdmin(MemberSearchMixin, LargeTableMixin, admin.ModelAdmin):
    list_display = ["masked_member", "provider", "valid_from", "valid_to", "source", "cancelled"]
    list_select_related = ["member", "provider"]
    list_filter = ["source", "cancelled"]
    autocomplete_fields = ["member", "provider"]
    actions = ["end", "change"]

    @admin.display(description=_("member"))
    def masked_member(self, obj):
        return member_masked_id_number(obj.member)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            form = super().get_form(request, obj, form=ChosenInstitutionForm, **kwargs)
            form.request_user = request.user
            return form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return FACTS if obj is None else FACTS + RECORD

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else FACTS + RECORD

    def save_model(self, request, obj, form, change):
        # Registered by the service in the form's clean(); ended or changed by the actions.
        return

    def has_delete_permission(self, request, obj=None):
        return False

    end = workflow_action(
        description=_("End the chosen institution (last day, reason)"),
        form_class=EndForm,
        call=lambda obj, actor, **v: service.chosen_institution_end(user=actor, chosen=obj, last_day=v["last_day"], reason=v["reason"]),
    )
    change = workflow_action(
        description=_("Change to another institution (from a day, reason)"),
        form_class=ChangeForm,
        call=lambda obj, actor, **v: service.chosen_institution_change(
            user=actor, chosen=obj, provider=v["provider"], from_day=v["from_day"], reason=v["reason"]),
    )
    # Ending or changing a chosen institution is the case workers' (claims "change", core/roles.py):
    # not offered to the roles that only read it (the service checks no role: the gateway calls it too).
    end.allowed_permissions = change.allowed_permissions = ("change",)


class ChosenInstitutionInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The member page: the member's chosen institutions (registered and changed under 人员定点备案)."""

    model = ChosenInstitution
    fk_name = "member"
    fields = ["provider", "valid_from", "valid_to", "source", "cancelled", "end_reason"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = _("chosen institutions")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider")


def _add_to_member_page():
    # As claims.admin_settlement does: on the registered member page, if there is one.
    from members.models import Member

    member_admin = admin.site._registry.get(Member)
    if member_admin is not None and ChosenInstitutionInline not in member_admin.inlines:
        member_admin.inlines = [*member_admin.inlines, ChosenInstitutionInline]


_add_to_member_page()
