"""Family links (家庭共济): symmetric, never to oneself, at most one spouse at a time."""

from datetime import date

import pytest
from django.urls import reverse

from core.errors import Conflict
from core.models import AuditEvent
from core.roles import Role
from members.models import FamilyLink
from members.services import family_link_create, family_link_delete
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def case_worker():
    return UserFactory(roles=[Role.CASE_WORKER])


def _pairs():
    return set(FamilyLink.objects.values_list("member", "relative", "relation"))


@pytest.mark.parametrize(("relation", "inverse"), [("spouse", "spouse"), ("parent", "child"), ("child", "parent")])
def test_a_link_is_stored_with_its_inverse(relation, inverse, case_worker):
    member, relative = MemberFactory(), MemberFactory()
    family_link_create(member=member, relative=relative, relation=relation, user=case_worker)
    assert _pairs() == {(member.pk, relative.pk, relation), (relative.pk, member.pk, inverse)}


def test_a_member_is_never_linked_to_themselves(case_worker):
    member = MemberFactory()
    with pytest.raises(Conflict) as refused:
        family_link_create(member=member, relative=member, relation="child", user=case_worker)
    assert refused.value.code == "family_link_self"
    assert not FamilyLink.objects.exists()


@pytest.mark.parametrize("second_spouse_side", ["member", "relative"])
def test_at_most_one_spouse_on_either_side(second_spouse_side, case_worker):
    married, spouse, newcomer = MemberFactory(), MemberFactory(), MemberFactory()
    family_link_create(member=married, relative=spouse, relation="spouse", user=case_worker)
    pair = (married, newcomer) if second_spouse_side == "member" else (newcomer, married)
    with pytest.raises(Conflict) as refused:
        family_link_create(member=pair[0], relative=pair[1], relation="spouse", user=case_worker)
    assert refused.value.code == "family_link_second_spouse"
    assert len(_pairs()) == 2


def test_the_same_pair_is_linked_once_whichever_way_round(case_worker):
    parent, child = MemberFactory(), MemberFactory(born=date(2010, 1, 1))
    family_link_create(member=child, relative=parent, relation="parent", user=case_worker)
    with pytest.raises(Conflict) as refused:
        family_link_create(member=parent, relative=child, relation="child", user=case_worker)
    assert refused.value.code == "family_link_exists"
    assert len(_pairs()) == 2


def test_deleting_a_link_removes_its_inverse_and_is_audited():
    user = UserFactory(roles=[Role.CASE_WORKER])
    member, relative = MemberFactory(), MemberFactory()
    family_link_create(member=member, relative=relative, relation="spouse", user=user)
    inverse = FamilyLink.objects.get(member=relative)
    family_link_delete(link=inverse, user=user)
    assert not FamilyLink.objects.exists()
    assert list(AuditEvent.objects.order_by("pk").values_list("action", "actor")) == [
        ("family_link.create", user.pk), ("family_link.delete", user.pk),
    ]


def test_the_audit_trail_holds_no_full_id_number(case_worker):
    member, relative = MemberFactory(), MemberFactory()
    family_link_create(member=member, relative=relative, relation="spouse", user=case_worker)
    event = AuditEvent.objects.get()
    assert member.id_number not in f"{event.target_label} {event.details}"
    assert relative.id_number not in f"{event.target_label} {event.details}"


def test_the_family_link_admin_adds_both_directions(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    member, relative = MemberFactory(), MemberFactory()
    response = client.post(
        reverse("admin:members_familylink_add"),
        {"member": member.pk, "relative": relative.pk, "relation": "child"},
    )
    assert response.status_code == 302
    assert _pairs() == {(member.pk, relative.pk, "child"), (relative.pk, member.pk, "parent")}


def test_the_family_link_admin_refuses_a_link_to_oneself_with_the_rule_in_words(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    member = MemberFactory()
    response = client.post(
        reverse("admin:members_familylink_add"),
        {"member": member.pk, "relative": member.pk, "relation": "child"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["A member cannot be linked to themselves."]
    assert not FamilyLink.objects.exists()


def test_deleting_in_the_admin_removes_both_directions(client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    case_worker = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(case_worker)
    member, relative = MemberFactory(), MemberFactory()
    link = family_link_create(member=member, relative=relative, relation="spouse", user=case_worker)
    response = client.post(reverse("admin:members_familylink_delete", args=[link.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not FamilyLink.objects.exists()
