"""The audit trail as people read it: each action's words and each target's kind.

Actions stay stored as their stable codes (searchable, the same in every language); the
admin shows their labels, which live with the actions in core.audit_actions. An action missing
there shows its code, and the page test (tests/i18n) finds it.
"""

from django.apps import apps

<<<<<<< HEAD
from .audit_actions import AuditAction

# The labels live with the actions (core.audit_actions); this map is what the admin reads.
ACTION_LABELS = {action.value: action.label for action in AuditAction}
=======
ACTION_LABELS = {
    "auth.login": _("signed in"),
    "auth.login_failed": _("sign-in failed"),
    "auth.otp_failed": _("one-time code refused"),
    "auth.otp_enrol": _("enrolled a one-time code authenticator"),
    "auth.otp_recovery_used": _("signed in with a recovery code"),
    "auth.otp_disable": _("turned off the one-time code"),
    "auth.otp_reset_propose": _("proposed a second factor reset"),
    "auth.otp_reset_approve": _("approved a second factor reset"),
    "auth.otp_reset_reject": _("rejected a second factor reset"),
    "member.read": _("viewed a member"),
    "member.benefits.read": _("viewed a member's benefits"),
    "account.read": _("viewed a personal account"),
    "account.statement_read": _("viewed an account statement"),
    "account.pay_premium": _("paid a premium from the account"),
    "account.withdrawal_propose": _("proposed an account withdrawal"),
    "account.withdrawal_approve": _("approved an account withdrawal"),
    "account.withdrawal_reject": _("rejected an account withdrawal"),
    "enrollment.add": _("recorded an enrollment change"),
    "enrollment.change_scheme": _("changed the enrollment scheme"),
    "family_link.create": _("linked a relative"),
    "family_link.delete": _("removed a relative's link"),
    "credit_run.start": _("started a monthly credit run"),
    "credit_run.complete": _("completed a monthly credit run"),
    "credit_policy.load": _("loaded a credit policy"),
    "policy.load": _("loaded a region policy"),
    "claim.settle": _("settled a visit"),
    "claim.reverse": _("reversed a settlement"),
    "statement.close_month": _("generated the monthly statements"),
    "statement.approve": _("approved a monthly statement"),
    "statement.pay": _("recorded a statement's payment"),
    "payment_terms.set": _("set an agreement's payment terms"),
    "primary_care.register": _("registered a member with a primary-care provider"),
    "primary_care.end": _("ended a member's primary-care registration"),
    "year_end.prepare": _("prepared a year-end settlement"),
    "year_end.approve": _("approved a year-end settlement"),
    "year_end.pay": _("recorded a year-end settlement's payment"),
    "deduction.record": _("recorded a deduction"),
    "reconciliation.submit": _("submitted a reconciliation"),
    "provider.read": _("viewed a provider"),
    "provider_user.create": _("created a provider user"),
    "api_token_create": _("created an API token"),
    "api_token_rotate": _("rotated an API token"),
    "suspend_provider": _("suspended a provider"),
    "terminate_provider": _("terminated a provider"),
    "reinstate_provider": _("reinstated a provider"),
    "activate_provider": _("activated a provider"),
    "workflow_submit": _("submitted an application"),
    "workflow_start_review": _("started reviewing an application"),
    "workflow_record_inspection": _("recorded a site inspection"),
    "workflow_approve": _("approved an application"),
    "workflow_reject": _("rejected an application"),
    "workflow_sign": _("signed an agreement"),
    "workflow_activate": _("activated an agreement"),
    "workflow_renew": _("renewed an agreement"),
    "workflow_replace": _("replaced an agreement"),
    "application_update": _("edited an application"),
    "application_add_document": _("added a document to an application"),
    "application_remove_document": _("removed a document from an application"),
    "application_answer_condition": _("answered an admission condition"),
    "supervision.flag.first_review": _("first review of a flag"),
    "supervision.flag.confirm": _("confirmed a flag"),
    "supervision.flag.dismiss": _("dismissed a flag"),
    "supervision.flag.appeal": _("appealed a flag"),
    "supervision.flag.appeal_upheld": _("upheld an appeal"),
    "supervision.flag.appeal_rejected": _("rejected an appeal"),
    "supervision.flag.deduct": _("deducted a confirmed flag"),
    "supervision.rulebase.import": _("imported the national rule library"),
    "supervision.monitoring.run": _("ran the monitoring rules"),
    "supervision.credit.compute": _("computed credit scores"),
    "import.members": _("imported members"),
    "import.accounts": _("imported personal accounts"),
    "import.catalog": _("imported the catalog"),
    "import.episodes": _("imported inpatient and care episodes"),
    "import.family_links": _("imported family links"),
    "import.providers": _("imported providers"),
    "import.reference": _("imported reference values"),
    "import.registrations": _("imported out-of-area registrations"),
    "chosen_institution.register": _("registered a chosen institution"),
    "chosen_institution.end": _("ended a chosen institution"),
    "chosen_institution.cancel": _("cancelled a chosen institution"),
    "import.chosen_institutions": _("imported chosen institutions"),
}
>>>>>>> main


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def target_type_label(target_type: str) -> str:
    """"claims.claim" → 结算 (the model's verbose name); anything else as it is."""
    if not target_type:
        return ""
    try:
        return str(apps.get_model(target_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return target_type
