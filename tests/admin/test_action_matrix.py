"""Per role, the admin actions offered on each list that has workflow actions: each is offered
only to the roles core/roles.py lets take the step (the services' own checks). A new action, or
one offered to another role, changes this table and fails the test until it is reviewed here.

Where the admin offers a step to fewer roles than the service accepts (left so on purpose):
reversing a settlement (the service takes the provider or any agency user; the admin: 经办).
Deducting a flag is 稽核's in both (supervision.services.flag_deduct; 财务 approves the statement
the deduction lands on, never adds to it)."""

import pytest
from django.contrib import admin
from django.test import RequestFactory

from core.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CW, AU, FI, AD = Role.CASE_WORKER, Role.AUDITOR, Role.FINANCE, Role.ADMINISTRATOR

# label → role → actions (Django's delete_selected left out); a role absent does not see the list.
OFFERED = {
    "claims.ChosenInstitution": {CW: ["change", "end"], AU: [], FI: [], AD: []},
    "claims.ChronicRegistration": {CW: ["approve", "revoke"], AU: [], FI: [], AD: []},
    "claims.Claim": {CW: ["export_xlsx", "reverse_selected"], AU: ["export_xlsx"], FI: ["export_xlsx"],
                     AD: ["export_xlsx"]},
    "claims.PolicyVersion": {CW: ["propose_pending_second_payments"], AU: [], FI: [], AD: []},
    "claims.ProviderStatement": {CW: ["export_xlsx"], AU: ["export_xlsx"], FI: ["approve_selected", "export_xlsx"],
                                 AD: ["export_xlsx"]},
    "claims.SubsidyBatch": {CW: ["approve"], AU: [], FI: [], AD: []},
    "claims.YearEndSettlement": {CW: ["export_xlsx"], AU: ["export_xlsx"], FI: ["approve_selected", "export_xlsx"],
                                 AD: ["export_xlsx"]},
    "members.AccountDecision": {CW: ["approve", "reject"], AU: [], FI: [], AD: []},
    "members.LateRefund": {CW: ["approve"], AU: [], FI: [], AD: []},
    "pharmacies.Agreement": {CW: ["activate", "renew"], AU: ["reinstate_provider", "suspend_provider",
                                                             "terminate_provider"], FI: [], AD: []},
    "pharmacies.Application": {CW: ["activate_agreement", "record_inspection", "sign_agreement", "start_review",
                                    "submit"], AU: ["approve", "reject"], FI: [], AD: []},
    "supervision.Flag": {CW: [], AU: ["deduct"], FI: [], AD: []},
    "supervision.ProviderCreditScore": {CW: [], AU: ["recompute"], FI: [], AD: []},
    "auth.User": {AD: ["send_password_reset_links"]},
    "core.ApiToken": {AD: ["revoke_tokens", "rotate_tokens"]},
    "core.SecondFactorReset": {AD: ["approve", "reject"]},
    "django_celery_beat.PeriodicTask": {AD: ["disable_tasks", "enable_tasks", "run_tasks", "toggle_tasks"]},
}


def _offered(user) -> dict:
    found = {}
    for model, model_admin in admin.site._registry.items():
        if not model_admin.actions:
            continue
        request = RequestFactory().get("/")
        request.user = user
        if model_admin.has_view_or_change_permission(request):
            found[model._meta.label] = sorted(name for name in model_admin.get_actions(request)
                                              if name != "delete_selected")
    return found


@pytest.mark.parametrize("role", [CW, AU, FI, AD])
def test_each_role_is_offered_only_its_own_steps(role):
    expected = {label: actions[role] for label, actions in OFFERED.items() if role in actions}
    offered = _offered(UserFactory(roles=[role]))
    assert {label: actions for label, actions in offered.items() if actions or label in expected} == expected
