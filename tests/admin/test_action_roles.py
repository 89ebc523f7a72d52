"""Admin actions are offered only to the roles core/roles.py lets change the rows: deciding a
chronic registration, ending or changing a chosen institution, deciding a withdrawal (case
workers), recomputing credit scores (auditors). Found by the admin write-path test: they were
offered to every role that may read the rows, and the chronic and chosen-institution services
checked no role, so an auditor could approve a registration (the services now refuse too:
tests/claims/test_chronic_registrations.py, tests/claims/test_chosen_institutions.py). The
year-end "prepare" page is reached by a button on the changelist, for finance only."""

from datetime import date

import pytest
from django.urls import reverse

from claims import chronic
from claims.chosen_institutions import chosen_institution_register
from claims.chronic_models import Disease
from core.models import AuditEvent
from core.roles import Role
from tests.claims.conftest import make_member
from tests.factories import ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db

CASE_WORKER_ACTIONS = {
    "claims_chronicregistration": ["approve", "revoke"],
    "claims_choseninstitution": ["end", "change"],
    "members_accountdecision": ["approve", "reject"],
}


def _offered(client, url):
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is offered
    return {value for value, _label in form.fields["action"].choices} if form else set()


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.FINANCE, Role.ADMINISTRATOR])
def test_only_case_workers_are_offered_the_decisions(client, role):
    client.force_login(UserFactory(roles=[role]))
    for model, actions in CASE_WORKER_ACTIONS.items():
        assert not set(actions) & _offered(client, reverse(f"admin:{model}_changelist")), model


def test_case_workers_are_offered_the_decisions_and_not_the_recompute(client):
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    for model, actions in CASE_WORKER_ACTIONS.items():
        assert set(actions) <= _offered(client, reverse(f"admin:{model}_changelist")), model
    assert "recompute" not in _offered(client, reverse("admin:supervision_providercreditscore_changelist"))


def test_an_auditor_posting_the_approval_changes_nothing(client):
    member = make_member()
    disease = Disease.objects.create(region="zaozhuang", code="WPR1", name="慢病", group=Disease.Group.values[0])
    registration = chronic.registration_propose(user=UserFactory(roles=[Role.CASE_WORKER]), member=member,
                                                disease=disease, valid_from=date(2026, 1, 1))
    chosen = chosen_institution_register(user=UserFactory(roles=[Role.CASE_WORKER]), member=member,
                                         provider=ProviderFactory(), valid_from=date(2026, 1, 1))
    auditor = UserFactory(roles=[Role.AUDITOR])
    client.force_login(auditor)
    assert "recompute" in _offered(client, reverse("admin:supervision_providercreditscore_changelist"))
    events = AuditEvent.objects.exclude(action__startswith="auth.").count()
    client.post(reverse("admin:claims_chronicregistration_changelist"),
                {"action": "approve", "_selected_action": [registration.pk], "index": "0"})
    client.post(reverse("admin:claims_choseninstitution_changelist"),
                {"action": "end", "_selected_action": [chosen.pk], "index": "0", "apply": "1",
                 "last_day": "2026-06-30", "reason": "x"})
    registration.refresh_from_db()
    chosen.refresh_from_db()
    assert (registration.status, registration.approved_by, chosen.valid_to) == ("proposed", None, None)
    assert AuditEvent.objects.exclude(action__startswith="auth.").count() == events


PREPARE_BUTTON = "编制年度清算"


def test_finance_sees_the_prepare_button_and_it_opens_the_page(client):
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    page = client.get(reverse("admin:claims_yearendsettlement_changelist"))
    prepare = reverse("admin:claims_yearendsettlement_prepare")
    assert page.status_code == 200
    content = page.content.decode()
    assert f'href="{prepare}"' in content and PREPARE_BUTTON in content
    assert client.get(prepare).status_code == 200


@pytest.mark.parametrize("role", [Role.CASE_WORKER, Role.AUDITOR, Role.ADMINISTRATOR])
def test_other_roles_see_no_prepare_button_and_may_not_open_the_page(client, role):
    client.force_login(UserFactory(roles=[role]))
    page = client.get(reverse("admin:claims_yearendsettlement_changelist"))
    assert page.status_code == 200
    assert reverse("admin:claims_yearendsettlement_prepare") not in page.content.decode()
    assert client.get(reverse("admin:claims_yearendsettlement_prepare")).status_code == 403
