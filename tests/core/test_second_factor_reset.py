"""Resetting someone's second factor takes two persons (等保 2.0 level 3; Ziyang 第十九条
不相容岗位分离): one 系统管理 proposes with a reason, another 系统管理 or a superuser approves
in the admin; the person's authenticator and recovery codes go, and they enrol at the next login."""

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.models import AuditEvent, SecondFactorReset
from core.roles import Role
from tests.factories import UserFactory
from tests.second_factor import make_authenticator

pytestmark = pytest.mark.django_db
ADD = "/admin/core/secondfactorreset/add/"
CHANGELIST = "/admin/core/secondfactorreset/"


def _client(user):
    client = Client()
    client.force_login(user)  # verified with the second factor (tests/conftest.py)
    return client


@pytest.fixture
def people():
    target = UserFactory(roles=[Role.CASE_WORKER])
    make_authenticator(target)
    StaticDevice.objects.create(user=target, name="recovery codes", confirmed=True).token_set.create(token="abcd2345")
    return {
        "admin1": UserFactory(roles=[Role.ADMINISTRATOR]),
        "admin2": UserFactory(roles=[Role.ADMINISTRATOR]),
        "target": target,
    }


def _propose(client, user, reason="手机丢失，本人到窗口申请"):
    return client.post(ADD, {"user": user.pk, "reason": reason})


def _decide(client, reset, action="approve"):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [reset.pk]}, follow=True)


def test_one_administrator_proposes_another_approves_and_the_person_enrols_again(people):
    target = people["target"]
    target_client = Client()
    target_client.force_login(target)
    assert target_client.get("/admin/").status_code == 200

    first = _client(people["admin1"])
    assert first.get(ADD).status_code == 200
    response = _propose(first, target)
    assert response.status_code == 302
    reset = SecondFactorReset.objects.get()
    assert (reset.status, reset.proposed_by, reset.reason) == ("proposed", people["admin1"], "手机丢失，本人到窗口申请")

    own = _decide(first, reset)
    assert "提出重置的管理员不能审批本人的提议" in own.content.decode()
    reset.refresh_from_db()
    assert reset.status == "proposed"
    assert TOTPDevice.objects.filter(user=target).exists() and StaticDevice.objects.filter(user=target).exists()

    second = _client(people["admin2"])
    done = _decide(second, reset)
    assert done.status_code == 200
    reset.refresh_from_db()
    assert (reset.status, reset.decided_by) == ("approved", people["admin2"])
    assert not TOTPDevice.objects.filter(user=target).exists()
    assert not StaticDevice.objects.filter(user=target).exists()
    assert list(AuditEvent.objects.filter(target_id=str(target.pk), action__startswith="auth.otp_reset")
                .order_by("pk").values_list("action", "actor")) == [
        ("auth.otp_reset_propose", people["admin1"].pk), ("auth.otp_reset_approve", people["admin2"].pk)]
    # The session verified with the deleted authenticator is no longer: the person enrols.
    assert target_client.get("/admin/")["Location"].startswith("/otp/enrol/")


def test_nobody_proposes_a_reset_of_themselves(people):
    me = people["admin1"]
    make_authenticator(me)
    response = _propose(_client(me), me)
    assert response.status_code == 200
    assert "任何人不得重置本人的第二重身份验证" in response.content.decode()
    assert not SecondFactorReset.objects.exists()
    assert not AuditEvent.objects.filter(action="auth.otp_reset_propose").exists()


def test_nobody_approves_a_reset_of_themselves(people):
    reset = SecondFactorReset.objects.create(user=people["admin2"], reason="换手机", proposed_by=people["admin1"])
    make_authenticator(people["admin2"])
    response = _decide(_client(people["admin2"]), reset)
    assert "任何人不得重置本人的第二重身份验证" in response.content.decode()
    reset.refresh_from_db()
    assert reset.status == "proposed"
    assert TOTPDevice.objects.filter(user=people["admin2"], name="authenticator").exists()


def test_a_reason_is_required_and_only_one_open_proposal_per_person(people):
    client = _client(people["admin1"])
    empty = _propose(client, people["target"], reason="   ")
    assert empty.status_code == 200
    assert not SecondFactorReset.objects.exists()
    assert _propose(client, people["target"]).status_code == 302
    again = _propose(client, people["target"])
    assert again.status_code == 200
    assert "已有一项第二重身份验证重置在等待审批" in again.content.decode()
    assert SecondFactorReset.objects.count() == 1


def test_only_system_administrators_reset(people):
    for role in [Role.CASE_WORKER, Role.AUDITOR, Role.FINANCE]:
        client = _client(UserFactory(roles=[role]))
        assert client.get(ADD).status_code == 403
        assert client.post(ADD, {"user": people["target"].pk, "reason": "x"}).status_code == 403
    assert not SecondFactorReset.objects.exists()


def test_a_superusers_second_factor_is_reset_only_by_a_superuser(people):
    boss = UserFactory(is_superuser=True, is_staff=True)
    boss.save()  # the factory saves the password only with roles
    response = _propose(_client(people["admin1"]), boss)
    assert response.status_code == 200
    assert "只有超级用户可以重置超级用户的第二重身份验证" in response.content.decode()
    assert not SecondFactorReset.objects.exists()
    # A superuser may approve an administrator's proposal.
    reset = SecondFactorReset.objects.create(user=people["target"], reason="换手机", proposed_by=people["admin1"])
    _decide(_client(boss), reset)
    reset.refresh_from_db()
    assert reset.status == "approved"


def test_a_rejected_reset_leaves_the_authenticator(people):
    reset = SecondFactorReset.objects.create(user=people["target"], reason="可疑的请求", proposed_by=people["admin1"])
    _decide(_client(people["admin2"]), reset, action="reject")
    reset.refresh_from_db()
    assert (reset.status, reset.decided_by) == ("rejected", people["admin2"])
    assert TOTPDevice.objects.filter(user=people["target"]).exists()
    again = _decide(_client(people["admin2"]), reset)
    assert "此重置已经处理" in again.content.decode()


def test_the_reset_pages_render_in_chinese(people):
    reset = SecondFactorReset.objects.create(user=people["target"], reason="换手机", proposed_by=people["admin1"])
    client = _client(people["admin2"])
    listing = client.get(CHANGELIST).content.decode()
    assert "第二重身份验证重置" in listing and "批准所选重置" in listing
    assert client.get(f"{CHANGELIST}{reset.pk}/change/").status_code == 200


def test_authenticators_have_no_admin_pages_of_their_own():
    """django-otp's device admin would show secrets and delete an authenticator alone."""
    boss = UserFactory(is_superuser=True, is_staff=True)
    boss.save()  # the factory saves the password only with roles
    client = _client(boss)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404
