"""Separated duties (Ziyang 第十九条: 不相容岗位分离) as classes of defect, each refused on every path.

- incompatible roles on one person (model guard, admin form);
- provider staff links: 系统管理 only, through a service, never for an agency user, and a relink
  revokes the user's API tokens;
- agency staff never settle;
- 系统管理 cannot escalate: no superuser edits, not its own roles, nobody else's password;
- 会计 and 出纳 differ: the approver of a statement never records its payment.
"""

import itertools
import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

from claims.models import ProviderStatement
from claims.statements.services import statement_approve, statement_close_month, statement_record_payment
from core.errors import DutyConflict, Forbidden
from core.models import ApiToken, AuditEvent
from core.roles import INCOMPATIBLE_ROLES, STAFF_ROLES, Role, ensure_compatible_roles, role_conflicts
from pharmacies.models import ProviderStaff
from pharmacies.services import provider_staff_link, provider_staff_unlink
from tests.factories import ProviderFactory, ProviderStaffFactory, UserFactory, api_key

pytestmark = pytest.mark.django_db
ALL_PAIRS = list(itertools.combinations(list(Role), 2))


# --- incompatible roles ---------------------------------------------------------------------


@pytest.mark.parametrize(("first", "second"), ALL_PAIRS, ids=[f"{a.name}+{b.name}" for a, b in ALL_PAIRS])
def test_ziyang_19_every_pair_of_roles_is_incompatible_on_one_person(first, second):
    """Ziyang 第十九条: 经办/稽核, business/finance, 会计/出纳 (within 财务, by person), 系统管理 and
    the business roles, and a provider's staff and the agency are kept apart."""
    assert frozenset({first, second}) in INCOMPATIBLE_ROLES
    assert role_conflicts([first.value, second.value])
    with pytest.raises(DutyConflict) as refused:
        ensure_compatible_roles([first, second])
    assert refused.value.code == "incompatible_roles"
    assert set(refused.value.details["roles"]) == {first.value, second.value}


@pytest.mark.parametrize("second", [Role.CASE_WORKER, Role.FINANCE, Role.PROVIDER])
def test_adding_an_incompatible_group_is_refused_whatever_the_path(second):
    user = UserFactory(roles=[Role.ADMINISTRATOR])
    group = Group.objects.get(name=second.value)
    with pytest.raises(DutyConflict), transaction.atomic():
        user.groups.add(group)
    with pytest.raises(DutyConflict), transaction.atomic():
        group.user_set.add(user)
    assert set(user.groups.values_list("name", flat=True)) == {Role.ADMINISTRATOR.value}


def test_a_linked_provider_user_never_gains_an_agency_role():
    staff = ProviderStaffFactory()
    with pytest.raises(DutyConflict), transaction.atomic():
        staff.user.groups.add(Group.objects.get(name=Role.CASE_WORKER.value))
    assert not staff.user.groups.filter(name=Role.CASE_WORKER.value).exists()


def _user_change_data(user, groups):
    return {
        "username": user.username, "first_name": "", "last_name": "", "email": user.email,
        "is_active": "on", "is_staff": "on", "groups": [g.pk for g in groups],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    }


def test_the_admin_form_refuses_incompatible_roles_and_writes_nothing(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR])
    worker = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(sysadmin)
    groups = Group.objects.filter(name__in=[Role.CASE_WORKER.value, Role.AUDITOR.value])
    response = client.post(reverse("admin:auth_user_change", args=[worker.pk]), _user_change_data(worker, groups))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "groups" in errors and "稽核" in str(errors["groups"]) and "经办" in str(errors["groups"])
    assert set(worker.groups.values_list("name", flat=True)) == {Role.CASE_WORKER.value}


# --- provider staff links ---------------------------------------------------------------------


def test_a_case_worker_can_no_longer_add_or_change_provider_staff_links(client):
    worker = UserFactory(roles=[Role.CASE_WORKER])
    link = ProviderStaffFactory()
    client.force_login(worker)
    assert client.get(reverse("admin:pharmacies_providerstaff_add")).status_code == 403
    response = client.post(reverse("admin:pharmacies_providerstaff_add"),
                           {"user": worker.pk, "provider": link.provider.pk})
    assert response.status_code == 403
    response = client.post(reverse("admin:pharmacies_providerstaff_change", args=[link.pk]),
                           {"provider": ProviderFactory().pk})
    assert response.status_code == 403
    assert not ProviderStaff.objects.filter(user=worker).exists()
    assert ProviderStaff.objects.get(pk=link.pk).provider == link.provider


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_the_administrator_cannot_link_an_agency_user_to_a_provider(client, role):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR])
    agency_user = UserFactory(roles=[role])
    provider = ProviderFactory()
    with pytest.raises(DutyConflict) as refused:
        provider_staff_link(actor=sysadmin, user=agency_user, provider=provider)
    assert refused.value.code == "agency_user_not_provider_staff"
    client.force_login(sysadmin)
    response = client.post(reverse("admin:pharmacies_providerstaff_add"),
                           {"user": agency_user.pk, "provider": provider.pk})
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    with pytest.raises(DutyConflict), transaction.atomic():
        ProviderStaff.objects.create(user=agency_user, provider=provider)
    assert not ProviderStaff.objects.filter(user=agency_user).exists()


def test_only_the_administrator_links_and_a_relink_revokes_the_token(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR])
    worker = UserFactory(roles=[Role.CASE_WORKER])
    user = UserFactory()
    first, second = ProviderFactory(), ProviderFactory()
    with pytest.raises(Forbidden):
        provider_staff_link(actor=worker, user=user, provider=first)
    assert not ProviderStaff.objects.filter(user=user).exists()

    client.force_login(sysadmin)
    response = client.post(reverse("admin:pharmacies_providerstaff_add"), {"user": user.pk, "provider": first.pk})
    assert response.status_code == 302
    link = ProviderStaff.objects.get(user=user)
    assert link.provider == first
    assert user.groups.filter(name=Role.PROVIDER.value).exists()
    api_key(user)

    response = client.post(reverse("admin:pharmacies_providerstaff_change", args=[link.pk]),
                           {"provider": second.pk})
    assert response.status_code == 302
    assert ProviderStaff.objects.get(user=user).provider == second
    assert not ApiToken.objects.filter(user=user, revoked_at__isnull=True).exists()
    event = AuditEvent.objects.filter(action="provider_staff.link").latest("pk")
    assert (event.actor, event.details["previous"], event.details["provider"]) == (sysadmin, first.code, second.code)

    api_key(user)
    provider_staff_unlink(actor=sysadmin, link=ProviderStaff.objects.get(user=user))
    assert not ProviderStaff.objects.filter(user=user).exists()
    assert not ApiToken.objects.filter(user=user, revoked_at__isnull=True).exists()


# --- agency staff never settle ------------------------------------------------------------------

SETTLEMENT = {"member_id_number": "370402198005170011", "visit_date": "2026-03-01", "external_ref": "X-1",
              "lines": []}


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
@pytest.mark.parametrize("path", ["/api/v1/settlements", "/api/v1/settlements/preview"])
def test_agency_staff_never_settle_through_the_api(role, path):
    api = APIClient()
    api.force_authenticate(UserFactory(roles=[role]))
    response = api.post(path, SETTLEMENT, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "agency_staff_not_provider"


# --- 系统管理 cannot escalate -----------------------------------------------------------------------


def test_the_administrator_cannot_change_a_superuser(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR])
    root = UserFactory(is_superuser=True, roles=[Role.ADMINISTRATOR])
    client.force_login(sysadmin)
    response = client.post(reverse("admin:auth_user_change", args=[root.pk]),
                           _user_change_data(root, []) | {"email": "evil@example.com"})
    assert response.status_code in (200, 403)
    root.refresh_from_db()
    assert root.email != "evil@example.com"
    assert client.get(reverse("admin:auth_user_password_change", args=[root.pk])).status_code == 403
    assert client.post(reverse("admin:auth_user_delete", args=[root.pk]), {"post": "yes"}).status_code == 403


def test_the_administrator_cannot_change_its_own_roles(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR], email="sa@example.com")
    client.force_login(sysadmin)
    groups = Group.objects.filter(name__in=[Role.FINANCE.value, Role.CASE_WORKER.value])
    client.post(reverse("admin:auth_user_change", args=[sysadmin.pk]), _user_change_data(sysadmin, groups))
    assert set(sysadmin.groups.values_list("name", flat=True)) == {Role.ADMINISTRATOR.value}


def test_the_administrator_cannot_edit_the_roles_themselves(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR])
    client.force_login(sysadmin)
    group = Group.objects.get(name=Role.ADMINISTRATOR.value)
    response = client.post(reverse("admin:auth_group_change", args=[group.pk]), {"name": group.name, "permissions": []})
    assert response.status_code == 403
    assert group.permissions.exists()


def test_the_administrator_sends_a_reset_link_instead_of_setting_a_password(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR])
    worker = UserFactory(roles=[Role.CASE_WORKER], email="worker@example.com")
    before = worker.password
    client.force_login(sysadmin)
    url = reverse("admin:auth_user_password_change", args=[worker.pk])
    assert client.get(url).status_code == 403
    response = client.post(url, {"password1": "a-new-password-123", "password2": "a-new-password-123"})
    assert response.status_code == 403
    worker.refresh_from_db()
    assert worker.password == before

    response = client.post(reverse("admin:auth_user_changelist"),
                           {"action": "send_password_reset_links", "_selected_action": [worker.pk]})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["worker@example.com"]]
    link = re.search(r"https?://[^/]+(/password-reset/\S+/)", mail.outbox[0].body).group(1)
    assert AuditEvent.objects.filter(action="user.password_reset_sent", actor=sysadmin).count() == 1

    # The person completes the reset themselves.
    client.logout()
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "my-own-secret-pass", "new_password2": "my-own-secret-pass"})
    assert response.status_code == 302
    worker.refresh_from_db()
    assert worker.check_password("my-own-secret-pass")


def test_the_administrator_creates_users_without_knowing_their_password(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR])
    client.force_login(sysadmin)
    response = client.get(reverse("admin:auth_user_add"))
    assert "password1" not in response.content.decode()
    response = client.post(reverse("admin:auth_user_add"), {"username": "newcomer", "email": "new@example.com"})
    assert response.status_code == 302
    from django.contrib.auth import get_user_model

    newcomer = get_user_model().objects.get(username="newcomer")
    assert not newcomer.has_usable_password()
    assert [m.to for m in mail.outbox] == [["new@example.com"]]


# --- 会计 and 出纳 differ ------------------------------------------------------------------------------


@pytest.fixture
def approved_statement(region, catalog):
    from tests.claims.statement_helpers import MARCH, local, settled_claim

    region("zaozhuang")
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="10.00")
    statement_close_month(month=MARCH)
    approver = UserFactory(roles=[Role.FINANCE])
    statement = statement_approve(statement_id=ProviderStatement.objects.get().pk, user=approver)
    return statement, approver


@pytest.fixture
def region(settings, db):
    from claims.policy_services import policy_load
    from tests.claims.conftest import configure, preset

    def use(name):
        settings.REGION = name
        policy_load(data=configure(preset(name), {}))

    return use


@pytest.fixture
def catalog(db):
    return None


def test_ziyang_19_the_approver_never_records_the_payment(approved_statement, client):
    """Ziyang 第十九条: accounting and cashier (会计/出纳) are incompatible duties."""
    statement, approver = approved_statement
    with pytest.raises(DutyConflict) as refused:
        statement_record_payment(statement_id=statement.pk, payment_reference="BANK-1", user=approver)
    assert refused.value.code == "separated_duties"
    client.force_login(approver)
    response = client.post(reverse("admin:claims_providerstatement_pay", args=[statement.pk]),
                           {"payment_reference": "BANK-1"})
    assert response.status_code == 200
    assert "不得" in response.content.decode() or "may not" in response.content.decode()
    statement.refresh_from_db()
    assert (statement.status, statement.paid_by, statement.payment_reference) == ("approved", None, "")

    cashier = UserFactory(roles=[Role.FINANCE])
    statement_record_payment(statement_id=statement.pk, payment_reference="BANK-1", user=cashier)
    statement.refresh_from_db()
    assert (statement.status, statement.paid_by) == ("paid", cashier)
