"""django-simple-history's "revert to this version" form saves whatever is posted to it for
anyone who may view the history (it only hides the button). core/admin.py refuses the POST
to whoever may not change the row; who may change it still reverts."""

import pytest
from django.urls import reverse

from core.roles import Role
from members.models import Member
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def _revert(client, member, version):
    url = reverse("admin:members_member_simple_history", args=[member.pk, version.history_id])
    return client.post(url, {"id_number": member.id_number, "name": "原名", "status": "active", "phone": ""})


@pytest.fixture
def renamed():
    member = MemberFactory(name="原名")
    first = member.history.order_by("history_id").first()
    member.name = "新名"
    member.save()
    return member, first


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.FINANCE, Role.ADMINISTRATOR])
def test_a_reader_of_the_history_cannot_post_a_revert(client, renamed, role):
    member, first = renamed
    client.force_login(UserFactory(roles=[role]))
    versions = member.history.count()
    assert client.get(reverse("admin:members_member_simple_history", args=[member.pk, first.history_id])).status_code == 200
    assert _revert(client, member, first).status_code == 403
    member.refresh_from_db()
    assert member.name == "新名" and member.history.count() == versions


def test_a_case_worker_reverts_to_an_earlier_version(client, renamed):
    member, first = renamed
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    assert _revert(client, member, first).status_code == 302
    assert Member.objects.get(pk=member.pk).name == "原名"
