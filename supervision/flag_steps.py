"""The flag as a case (issue 16): the form for the step a flag is at, each asking the auditor's
own opinion, the amount the reviewer sets (the rule's suggestion shown), and the reasons for
an appeal decision. Thin: each form calls one service, which checks roles and separated duties.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Flag

OPINION = forms.Textarea(attrs={"rows": 4, "cols": 80})


class FirstReviewForm(forms.Form):
    title = _("First review (初审)")
    opinion = forms.CharField(label=_("first review opinion"), widget=OPINION,
                              help_text=_("What the evidence shows, in your own words."))

    def __init__(self, *args, flag: Flag, **kwargs):
        super().__init__(*args, **kwargs)
        self.flag = flag

    def apply(self, user) -> str:
        services.flag_first_review(flag=self.flag, user=user, opinion=self.cleaned_data["opinion"])
        return str(_("First review recorded."))


class SecondReviewForm(forms.Form):
    title = _("Second review (复审)")
    decision = forms.ChoiceField(label=_("finding"), widget=forms.RadioSelect, choices=[
        ("confirm", _("a violation: the provider repays the amount below")),
        ("dismiss", _("no violation: dismiss the flag")),
    ])
    amount = forms.DecimalField(label=_("amount to deduct"), required=False, min_value=0, max_digits=14, decimal_places=2)
    note = forms.CharField(label=_("second review opinion"), widget=OPINION)

    def __init__(self, *args, flag: Flag, **kwargs):
        super().__init__(*args, **kwargs)
        self.flag = flag
        self.fields["amount"].help_text = _("The rule suggests %(amount)s (the amount at stake); set what the evidence supports.") % {
            "amount": flag.amount_at_stake}

    def clean(self):
        data = super().clean()
        if data.get("decision") == "confirm" and data.get("amount") is None:
            self.add_error("amount", _("Set the amount to deduct for a violation."))
        return data

    def apply(self, user) -> str:
        data = self.cleaned_data
        if data["decision"] == "confirm":
            services.flag_confirm(flag=self.flag, user=user, amount=data["amount"], note=data["note"])
            return str(_("Violation confirmed; the provider may appeal until the deadline."))
        services.flag_dismiss(flag=self.flag, user=user, note=data["note"])
        return str(_("Flag dismissed."))


class AppealDecisionForm(forms.Form):
    title = _("Decide the appeal")
    decision = forms.ChoiceField(label=_("decision"), widget=forms.RadioSelect, choices=[
        ("upheld", _("the appeal is upheld: dismiss the flag")),
        ("rejected", _("the appeal is rejected: the violation stands")),
    ])
    amount = forms.DecimalField(label=_("amount to deduct after the appeal"), required=False, min_value=0,
                                max_digits=14, decimal_places=2,
                                help_text=_("Leave empty to keep the confirmed amount."))
    note = forms.CharField(label=_("reasons for the decision"), widget=OPINION)

    def __init__(self, *args, flag: Flag, **kwargs):
        super().__init__(*args, **kwargs)
        self.flag = flag

    def apply(self, user) -> str:
        data = self.cleaned_data
        upheld = data["decision"] == "upheld"
        services.flag_decide_appeal(flag=self.flag, user=user, upheld=upheld, amount=data["amount"], note=data["note"])
        return str(_("Appeal upheld; the flag is dismissed.") if upheld else _("Appeal rejected; the violation stands."))


STEP_FORMS = {
    Flag.Status.NEW: FirstReviewForm,
    Flag.Status.FIRST_REVIEWED: SecondReviewForm,
    Flag.Status.APPEALED: AppealDecisionForm,
}
