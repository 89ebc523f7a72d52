"""Forms of the provider portal. They parse input; the services decide."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.auth import BackoffLoginFormMixin

from .access import provider_of
from .models import AdmissionCondition, ApplicationDocument, Provider


class PortalLoginForm(BackoffLoginFormMixin, AuthenticationForm):
    """Only the staff of a designated provider log in to the portal."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_provider": _("This account does not belong to a designated provider."),
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if provider_of(user) is None:
            raise ValidationError(self.error_messages["not_provider"], code="not_provider")


class PortalApplicationForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=200)
    level = forms.ChoiceField(
        label=_("level"),
        required=False,
        choices=[("", "—"), *Provider.Level.choices],
        help_text=_("Institutions only; a pharmacy has no level."),
    )
    parent = forms.ModelChoiceField(
        label=_("physical institution"),
        required=False,
        queryset=Provider.objects.filter(
            kind=Provider.Kind.INSTITUTION, status=Provider.Status.ACTIVE
        )
        .exclude(level=Provider.Level.INTERNET_HOSPITAL)
        .order_by("code"),
        help_text=_("Internet hospitals only: the institution it relies on."),
    )
    district = forms.CharField(label=_("district"), max_length=64, required=False)
    outpatient_pooling = forms.BooleanField(
        label=_("applies for outpatient pooling"), required=False
    )
    contact_name = forms.CharField(label=_("contact person"), max_length=64, required=False)
    contact_phone = forms.CharField(label=_("contact phone"), max_length=32, required=False)
    contact_email = forms.EmailField(label=_("contact e-mail"), required=False)


class DocumentUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("document kind"), choices=ApplicationDocument.Kind.choices)
    file = forms.FileField(label=_("file"), help_text=_("PDF, JPEG or PNG."))


class ConditionAnswerForm(forms.Form):
    met = forms.TypedChoiceField(
        label=_("met"),
        choices=[("yes", _("yes")), ("no", _("no"))],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
    )
    evidence_text = forms.CharField(
        label=_("evidence"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    evidence_document = forms.ModelChoiceField(
        label=_("evidence document"),
        required=False,
        queryset=ApplicationDocument.objects.none(),
    )

    def __init__(self, *args, application, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["evidence_document"].queryset = application.documents.all()


CONDITION_CHOICES = AdmissionCondition.Condition
