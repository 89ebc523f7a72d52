"""Which role reaches which admin page (Ziyang 第十九条: incompatible duties kept apart)."""

import pytest
from django.urls import reverse

from core.errors import DutyConflict
from core.roles import Role, ensure_separated
from tests.factories import MemberFactory, ProviderStaffFactory, UserFactory

pytestmark = pytest.mark.django_db

CW, AU, FI, SA = Role.CASE_WORKER, Role.AUDITOR, Role.FINANCE, Role.ADMINISTRATOR

# page → expected status per role (200 allowed, 403 refused)
MATRIX = {
    "admin:members_member_changelist": {CW: 200, AU: 200, FI: 200, SA: 200},
    "admin:members_member_add": {CW: 200, AU: 403, FI: 403, SA: 403},
    "admin:members_enrollment_add": {CW: 200, AU: 403, FI: 403, SA: 403},
    "admin:members_familylink_add": {CW: 200, AU: 403, FI: 403, SA: 403},
    "admin:members_referencevalue_add": {CW: 200, AU: 403, FI: 403, SA: 403},
    "admin:pharmacies_provider_changelist": {CW: 200, AU: 200, FI: 200, SA: 200},
    "admin:pharmacies_provider_add": {CW: 200, AU: 403, FI: 403, SA: 403},
    "admin:claims_catalogitem_changelist": {CW: 200, AU: 200, FI: 200, SA: 200},
    "admin:claims_catalogitem_add": {CW: 200, AU: 403, FI: 403, SA: 403},
    "admin:core_auditevent_changelist": {CW: 200, AU: 200, FI: 200, SA: 200},
    "admin:core_auditevent_add": {CW: 403, AU: 403, FI: 403, SA: 403},
    "admin:auth_user_changelist": {CW: 403, AU: 403, FI: 403, SA: 200},
    "admin:auth_user_add": {CW: 403, AU: 403, FI: 403, SA: 200},
}

CASES = [(page, role, status) for page, roles in MATRIX.items() for role, status in roles.items()]


@pytest.mark.parametrize(("page", "role", "status"), CASES, ids=[f"{p.split(':')[1]}-{r.name}" for p, r, _ in CASES])
def test_admin_page_answers_by_role(client, page, role, status):
    client.force_login(UserFactory(roles=[role]))
    assert client.get(reverse(page)).status_code == status


@pytest.mark.parametrize("role", [AU, FI, SA])
def test_only_case_workers_change_a_member(client, role):
    member = MemberFactory(name="原名")
    client.force_login(UserFactory(roles=[role]))
    response = client.post(reverse("admin:members_member_change", args=[member.pk]), {"name": "改名", "status": "active"})
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.name == "原名"


def test_provider_staff_are_sent_to_the_login_page(client):
    staff = ProviderStaffFactory()
    client.force_login(staff.user)
    response = client.get(reverse("admin:members_member_changelist"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_provider_staff_stay_out_even_when_marked_as_staff(client):
    staff = ProviderStaffFactory()
    staff.user.is_staff = True
    staff.user.save()
    client.force_login(staff.user)
    assert client.get(reverse("admin:index")).status_code == 302


def test_a_provider_user_cannot_log_in_to_the_admin(client):
    staff = ProviderStaffFactory()
    staff.user.is_staff = True  # even a mistaken staff flag does not open the admin
    staff.user.save()
    response = client.post(
        reverse("admin:login"), {"username": staff.user.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_a_case_worker_can_log_in_to_the_admin(client):
    user = UserFactory(roles=[CW])
    response = client.post(reverse("admin:login"), {"username": user.username, "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_the_system_administrator_cannot_grant_superuser(client):
    admin_user = UserFactory(roles=[SA])
    client.force_login(admin_user)
    response = client.get(reverse("admin:auth_user_change", args=[admin_user.pk]))
    assert response.status_code == 200
    readonly = response.context["adminform"].readonly_fields
    assert "is_superuser" in readonly and "user_permissions" in readonly


def test_separated_duties_refuse_the_same_person_ziyang_art_19():
    """Ziyang 第十九条: the proposer never approves; an unknown person is refused too."""
    alice, bob = UserFactory(roles=[CW]), UserFactory(roles=[AU])
    ensure_separated(proposer=alice, approver=bob)
    with pytest.raises(DutyConflict) as refused:
        ensure_separated(proposer=alice, approver=alice)
    assert refused.value.code == "separated_duties"
    with pytest.raises(DutyConflict):
        ensure_separated(proposer=alice.pk, approver=alice)
    with pytest.raises(DutyConflict):
        ensure_separated(proposer=None, approver=bob)


def test_history_tables_are_only_ever_viewed():
    user = UserFactory(roles=[CW])
    assert user.has_perm("members.view_historicalmember")
    assert not user.has_perm("members.change_historicalmember")
    assert not user.has_perm("members.change_enrollment")
    assert user.has_perm("members.delete_familylink")
    assert not UserFactory(roles=[FI]).has_perm("claims.change_catalogitem")


def test_the_token_list_never_shows_a_whole_token(client):
    from tests.factories import api_key

    key = api_key(ProviderStaffFactory().user)
    client.force_login(UserFactory(roles=[SA]))
    response = client.get(reverse("admin:core_apitoken_changelist"))
    assert response.status_code == 200
    assert key not in response.content.decode()
    assert key[:8] in response.content.decode()


def test_a_refused_page_says_so_in_chinese_with_a_way_back(client):
    """Issue 16: no bare English "403 Forbidden"; the refusal is a page a case worker reads."""
    client.force_login(UserFactory(roles=[CW]))
    response = client.get(reverse("admin:auth_user_changelist"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = response.content.decode()
    assert response.status_code == 403
    assert "Forbidden" not in page and 'lang="zh-hans"' in page
    assert "您无权打开此页面" in page and "请联系系统管理员" in page
    assert f'href="{reverse("admin:index")}"' in page
