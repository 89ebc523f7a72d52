"""Admin for the designation workflow: applications, agreements and their history.

Imported at the end of `pharmacies/admin.py`. Every state change is an admin action that
calls a service of `pharmacies/services.py`; the role and separated-duty checks live there.
Each action is offered only to the role its service allows (core/roles.py, `role_permission`):
a case worker (经办) files, reviews, inspects, signs, brings into force and renews; an auditor
(稽核) approves or rejects an application and suspends, reinstates or terminates a provider.
"""

import copy

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from core.admin import NoAddNoDeleteMixin, ReadOnlyAdminMixin, ReadOnlyInlineMixin
from core.admin_actions import apply_to_selected, role_permission
from core.errors import DomainError
from core.roles import Role

from . import services
from .documents import inspect_upload
from .models import (
    TRANSITION_ACTIONS,
    AdmissionCondition,
    Agreement,
    Application,
    ApplicationDocument,
    Notification,
    PaymentTerms,
    WorkflowTransition,
)
from .services.applications import validate_particulars


def _run(modeladmin, request, objects, call, **values) -> None:
    """Call a service once per selected object; report each refusal with its reason."""
    apply_to_selected(
        modeladmin, request, objects, lambda obj: call(obj, actor=request.user, **values),
        done_message=lambda done: ngettext("%(count)d record done.", "%(count)d records done.", done) % {"count": done},
    )


def workflow_action(*, description, call, form_class=None, permissions=None):
    """An admin action calling a service; with `form_class`, asks for its inputs first.
    `permissions`: Django's allowed_permissions (each a `has_<name>_permission` of the
    ModelAdmin, e.g. a `role_permission`): the action is offered only to those who have them."""

    def action(modeladmin, request, queryset):
        objects = list(queryset.order_by("pk"))
        if form_class is None:
            _run(modeladmin, request, objects, call)
            return None
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            _run(modeladmin, request, objects, call, **form.cleaned_data)
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "form": form,
            "objects": objects,
            "opts": modeladmin.model._meta,
            "action_name": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/pharmacies/workflow_action.html", context)

    action.short_description = description
    if permissions:
        action.allowed_permissions = tuple(permissions)
    return action


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 4}))


class OptionalReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("remarks"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )


class InspectionForm(forms.Form):
    inspected_on = forms.DateField(
        label=_("site inspection date"),
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    notes = forms.CharField(
        label=_("site inspection notes"), widget=forms.Textarea(attrs={"rows": 6})
    )


class SignForm(forms.Form):
    period_from = forms.DateField(
        label=_("valid from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    period_to = forms.DateField(label=_("valid to"), widget=forms.DateInput(attrs={"type": "date"}))
    payment_method = forms.ChoiceField(
        label=_("payment method"), choices=Agreement.PaymentMethod.choices
    )
    outpatient_pooling = forms.BooleanField(label=_("outpatient pooling"), required=False)


class RenewForm(forms.Form):
    period_to = forms.DateField(label=_("valid to"), widget=forms.DateInput(attrs={"type": "date"}))
    payment_method = forms.ChoiceField(
        label=_("payment method"), choices=Agreement.PaymentMethod.choices
    )
    reason = forms.CharField(label=_("reason"), widget=forms.Textarea(attrs={"rows": 3}))


# --- applications -----------------------------------------------------------------------


class DocumentInlineForm(forms.ModelForm):
    class Meta:
        model = ApplicationDocument
        fields = ["kind", "file"]

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is not None and hasattr(
            upload, "content_type"
        ):  # a new upload, not the stored file
            try:
                self.sniffed_type = inspect_upload(upload)
            except DomainError as exc:
                raise ValidationError(str(exc.message), code=exc.code) from exc
        return upload


class DocumentInline(admin.TabularInline):
    model = ApplicationDocument
    form = DocumentInlineForm
    extra = 0
    fields = ["kind", "file", "original_name", "content_type", "size", "uploaded_by", "uploaded_at"]
    readonly_fields = ["original_name", "content_type", "size", "uploaded_by", "uploaded_at"]

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (obj is None or obj.is_editable)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and obj is not None and obj.is_editable


class ConditionInline(admin.TabularInline):
    """Admission conditions of a pharmacy joining outpatient pooling (Ziyang 第十四条, Jinan (十))."""

    model = AdmissionCondition
    extra = 0
    fields = ["condition", "met", "evidence_text", "evidence_document"]
    readonly_fields = ["condition"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and obj is not None and obj.is_editable

    def get_formset(self, request, obj=None, **kwargs):
        self._parent = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "evidence_document":
            kwargs["queryset"] = ApplicationDocument.objects.filter(
                application=getattr(self, "_parent", None)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TransitionInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = WorkflowTransition
    fk_name = "application"
    extra = 0
    fields = ["at", "action_display", "from_display", "to_display", "actor", "reason"]
    readonly_fields = fields
    verbose_name_plural = _("history")

    @admin.display(description=_("action"))
    def action_display(self, obj):
        return obj.action_label

    @admin.display(description=_("from state"))
    def from_display(self, obj):
        return obj.from_label

    @admin.display(description=_("to state"))
    def to_display(self, obj):
        return obj.to_label


class AgreementInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Agreement
    fk_name = "application"
    extra = 0
    fields = [
        "period_from",
        "period_to",
        "payment_method",
        "outpatient_pooling",
        "status",
        "signed_by",
    ]
    readonly_fields = fields
    show_change_link = True


PARTICULARS = [
    "code",
    "name",
    "kind",
    "level",
    "parent",
    "district",
    "outpatient_pooling",
    "contact_name",
    "contact_phone",
    "contact_email",
]
WORKFLOW_FIELDS = [
    "provider",
    "status",
    "filed_by",
    "created_at",
    "submitted_at",
    "reviewer",
    "review_started_at",
    "inspected_on",
    "inspection_notes",
    "decided_by",
    "decided_at",
    "decision_reason",
]


class ApplicationForm(forms.ModelForm):
    class Meta:
        model = Application
        fields = PARTICULARS

    def clean(self):
        cleaned = super().clean()
        candidate = copy.copy(self.instance)
        for field in PARTICULARS:
            if field in cleaned:
                setattr(candidate, field, cleaned[field])
        try:
            validate_particulars(candidate)
        except DomainError as exc:
            raise ValidationError({field: [exc.message] for field in exc.details}) from exc
        return cleaned


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    form = ApplicationForm
    list_display = [
        "pk",
        "code",
        "name",
        "kind",
        "level",
        "outpatient_pooling",
        "status",
        "reviewer",
        "submitted_at",
    ]
    list_display_links = ["pk", "code"]
    list_select_related = ["reviewer"]
    list_filter = ["status", "kind", "outpatient_pooling"]
    search_fields = ["code", "name"]
    raw_id_fields = ["parent"]
    date_hierarchy = "created_at"
    inlines = [DocumentInline, ConditionInline, AgreementInline, TransitionInline]
    actions = [
        "submit",
        "start_review",
        "record_inspection",
        "approve",
        "reject",
        "sign_agreement",
        "activate_agreement",
    ]

    has_case_worker_permission = role_permission(Role.CASE_WORKER)
    has_auditor_permission = role_permission(Role.AUDITOR)

    def get_urls(self):
        view = self.admin_site.admin_view(self.document_view)
        return [
            path("documents/<path:name>", view, name="pharmacies_application_document"),
            *super().get_urls(),
        ]

    def document_view(self, request, name):
        """A document, to agency staff who may see its application (never served from MEDIA_URL)."""
        document = get_object_or_404(
            ApplicationDocument.objects.select_related("application"), file=name
        )
        if not self.has_view_permission(request, document.application):
            raise PermissionDenied
        response = FileResponse(
            document.file.open("rb"),
            as_attachment=True,
            filename=document.original_name,
            content_type=document.content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def get_fieldsets(self, request, obj=None):
        sets = [(_("particulars"), {"fields": PARTICULARS})]
        if obj is not None:
            sets.append((_("workflow"), {"fields": WORKFLOW_FIELDS}))
        return sets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if not obj.is_editable:
            return PARTICULARS + WORKFLOW_FIELDS
        locked = ["code", "kind"] if obj.provider_id else []
        return locked + WORKFLOW_FIELDS

    def save_model(self, request, obj, form, change):
        # A draft's particulars go through the services (the admin form's transaction wraps them).
        values = {
            field: form.cleaned_data[field] for field in form.changed_data if field in PARTICULARS
        }
        if change:
            services.application_update(application=obj, actor=request.user, **values)
            obj.refresh_from_db()
            return
        created = services.application_create(
            actor=request.user, **{field: form.cleaned_data.get(field) for field in PARTICULARS}
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        # Documents and admission conditions change through the same services as in the portal
        # (their audit events, the file clean-up); the inlines offer them only on a draft.
        if formset.model is ApplicationDocument:
            for document in formset.save(commit=False):
                services.application_add_document(
                    application=form.instance, actor=request.user, kind=document.kind, upload=document.file.file
                )
            for document in formset.deleted_objects:
                services.application_remove_document(document=document, actor=request.user)
            return
        if formset.model is AdmissionCondition:
            for answer in formset.save(commit=False):
                services.application_answer_condition(
                    application=form.instance, actor=request.user, condition=answer.condition, met=answer.met,
                    evidence_text=answer.evidence_text or "", evidence_document=answer.evidence_document,
                )
            return
        super().save_formset(request, form, formset, change)

    submit = workflow_action(
        permissions=["case_worker"],
        description=_("Submit the application (for the provider)"),
        call=lambda obj, actor: services.application_submit(application=obj, actor=actor),
    )
    start_review = workflow_action(
        permissions=["case_worker"],
        description=_("Take up the review"),
        call=lambda obj, actor: services.application_start_review(application=obj, actor=actor),
    )
    record_inspection = workflow_action(
        permissions=["case_worker"],
        description=_("Record the site inspection"),
        form_class=InspectionForm,
        call=lambda obj, actor, **v: services.application_record_inspection(
            application=obj, actor=actor, **v
        ),
    )
    approve = workflow_action(
        permissions=["auditor"],
        description=_("Approve (auditor, not the reviewer)"),
        form_class=OptionalReasonForm,
        call=lambda obj, actor, **v: services.application_approve(
            application=obj, actor=actor, **v
        ),
    )
    reject = workflow_action(
        permissions=["auditor"],
        description=_("Reject with reasons (auditor, not the reviewer)"),
        form_class=ReasonForm,
        call=lambda obj, actor, **v: services.application_reject(application=obj, actor=actor, **v),
    )
    sign_agreement = workflow_action(
        permissions=["case_worker"],
        description=_("Sign the agreement"),
        form_class=SignForm,
        call=lambda obj, actor, **v: services.agreement_sign(application=obj, actor=actor, **v),
    )
    activate_agreement = workflow_action(
        permissions=["case_worker"],
        description=_("Bring the signed agreement into force"),
        call=lambda obj, actor: services.agreement_activate(
            agreement=_signed_agreement_of(obj), actor=actor
        ),
    )


def _signed_agreement_of(application: Application) -> Agreement:
    agreement = (
        application.agreements.filter(status=Agreement.Status.SIGNED).order_by("-pk").first()
    )
    if agreement is None:
        raise services.InvalidState(details={"status": application.status, "expected": ["signed"]})
    return agreement


# --- agreements ------------------------------------------------------------------------


class AgreementTransitionInline(TransitionInline):
    fk_name = "agreement"


@admin.register(Agreement)
class AgreementAdmin(NoAddNoDeleteMixin, admin.ModelAdmin):
    # No add, no delete: agreements are signed from an approved application or renewed
    list_display = [
        "pk",
        "provider",
        "period_from",
        "period_to",
        "payment_method",
        "outpatient_pooling",
        "status",
        "signed_by",
    ]
    list_select_related = ["provider", "signed_by"]
    list_filter = ["status", "payment_method", "outpatient_pooling"]
    search_fields = ["provider__code", "provider__name"]
    date_hierarchy = "period_from"
    inlines = [AgreementTransitionInline]
    actions = ["activate", "renew", "suspend_provider", "reinstate_provider", "terminate_provider"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    has_case_worker_permission = role_permission(Role.CASE_WORKER)
    has_auditor_permission = role_permission(Role.AUDITOR)

    activate = workflow_action(
        permissions=["case_worker"],
        description=_("Bring the signed agreement into force"),
        call=lambda obj, actor: services.agreement_activate(agreement=obj, actor=actor),
    )
    renew = workflow_action(
        permissions=["case_worker"],
        description=_("Renew the agreement"),
        form_class=RenewForm,
        call=lambda obj, actor, **v: services.agreement_renew(agreement=obj, actor=actor, **v),
    )
    suspend_provider = workflow_action(
        permissions=["auditor"],
        description=_("Suspend the provider"),
        form_class=ReasonForm,
        call=lambda obj, actor, **v: services.provider_suspend(
            provider=obj.provider, actor=actor, **v
        ),
    )
    reinstate_provider = workflow_action(
        permissions=["auditor"],
        description=_("Reinstate the provider"),
        form_class=ReasonForm,
        call=lambda obj, actor, **v: services.provider_reinstate(
            provider=obj.provider, actor=actor, **v
        ),
    )
    terminate_provider = workflow_action(
        permissions=["auditor"],
        description=_("Terminate the provider's agreement"),
        form_class=ReasonForm,
        call=lambda obj, actor, **v: services.provider_terminate(
            provider=obj.provider, actor=actor, **v
        ),
    )

# --- payment terms (支付方式) --------------------------------------------------------------


class PaymentTermsForm(forms.ModelForm):
    class Meta:
        model = PaymentTerms
        fields = ["agreement", "year", *services.payment_terms.TERM_FIELDS]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned.update(services.payment_terms_clean(cleaned))
        except DomainError as error:
            field = next(iter(error.details or {}), "").split(".")[0]
            self.add_error(field if field in self.fields else None, str(error.message))
        return cleaned

    def validate_unique(self):
        # payment_terms_set replaces the year's terms of an agreement.
        pass


@admin.register(PaymentTerms)
class PaymentTermsAdmin(admin.ModelAdmin):
    """An agreement's payment method(s) and the agency's parameters for a year. Saved through
    payment_terms_set (checked field by field, audited)."""

    form = PaymentTermsForm
    list_display = ["agreement", "year", "budget", "capitation", "per_disease", "budget_amount", "deposit_percent",
                    "capitation_rate"]
    list_select_related = ["agreement__provider"]
    list_filter = ["year", "budget", "capitation", "per_disease"]
    search_fields = ["agreement__provider__code", "agreement__provider__name"]
    autocomplete_fields = ["agreement"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data.get(name) for name in services.payment_terms.TERM_FIELDS}
        try:
            saved = services.payment_terms_set(agreement=form.cleaned_data["agreement"], year=form.cleaned_data["year"],
                                               values=values, actor=request.user)
        except DomainError as error:
            raise ValidationError(str(error.message)) from error
        obj.pk = saved.pk


# --- history and notifications (read-only) ------------------------------------------------


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


class TransitionActionFilter(admin.SimpleListFilter):
    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return list(TRANSITION_ACTIONS.items())

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(WorkflowTransition)
class WorkflowTransitionAdmin(ReadOnlyAdmin):
    """The history in words: the action and the states by their labels, never their codes."""

    list_display = ["at", "action_display", "subject", "from_display", "to_display", "actor", "reason"]
    list_select_related = ["application", "agreement", "provider", "actor"]
    list_filter = [TransitionActionFilter]
    fields = ["at", "action_display", "application", "agreement", "provider", "from_display", "to_display", "actor", "reason"]
    action_display = TransitionInline.action_display
    from_display = TransitionInline.from_display
    to_display = TransitionInline.to_display

    def get_readonly_fields(self, request, obj=None):
        return self.fields
    search_fields = ["application__code", "provider__code", "actor__username"]
    date_hierarchy = "at"

    @admin.display(description=_("concerning"))
    def subject(self, obj):
        return obj.application or obj.provider or obj.agreement


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "subject", "provider", "application", "emailed_to", "read_at"]
    list_select_related = ["provider", "application"]
    search_fields = ["provider__code", "application__code", "subject"]
    date_hierarchy = "created_at"
