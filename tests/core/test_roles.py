import pytest
from django.contrib.auth.models import Group

from core.errors import DutyConflict
from core.roles import Role, ensure_separated
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_every_role_group_exists_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {role.value for role in Role}


def test_case_worker_may_change_members_but_not_supervision():
    user = UserFactory(roles=[Role.CASE_WORKER])
    assert user.has_perm("members.change_member")
    assert not user.has_perm("supervision.change_flag")
    assert not user.has_perm("members.delete_member")


def test_auditor_reads_members_but_cannot_change_them():
    user = UserFactory(roles=[Role.AUDITOR])
    assert user.has_perm("members.view_member")
    assert not user.has_perm("members.change_member")


def test_provider_staff_have_no_admin_permissions():
    user = UserFactory(roles=[Role.PROVIDER])
    assert not user.is_staff
    assert not user.get_all_permissions()


def test_the_proposer_never_approves():
    alice, bob = UserFactory(), UserFactory()
    ensure_separated(proposer=alice, approver=bob)
    with pytest.raises(DutyConflict):
        ensure_separated(proposer=alice, approver=alice)
