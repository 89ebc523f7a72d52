"""Family links to a relative outside the registry (CONTRACT.md "Account-only settlement"):
insured elsewhere or not at all, named by a GB 11643 ID number and a name, linked one way from
the member whose account may pay for them (Zaozhuang 第八条: spouse, parents, children)."""

import io
from datetime import date

import pytest
from django.core.management import call_command
from django.urls import reverse

from core.errors import Conflict, DomainError
from core.models import AuditEvent
from core.roles import Role
from members.models import FamilyLink
from members.services import family_link_create, family_link_create_outside, family_link_delete
from tests.factories import MemberFactory, UserFactory, new_id_number
from tests.imports.helpers import write_table

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def case_worker():
    return UserFactory(roles=[Role.CASE_WORKER])


@pytest.fixture
def english():
    from django.utils import translation

    with translation.override("en"):
        yield


def test_an_outside_relative_is_linked_one_way_and_audited_without_the_full_id_number(case_worker):
    member = MemberFactory()
    mother = new_id_number(date(1950, 1, 2))
    link = family_link_create_outside(member=member, relative_id_number=mother.lower(), relative_name=" 王桂兰 ", relation="parent", user=case_worker)
    assert list(FamilyLink.objects.values_list("member", "relative", "relative_id_number", "relative_name", "relation")) == [
        (member.pk, None, mother, "王桂兰", "parent")]
    event = AuditEvent.objects.get(action="family_link.create")
    assert mother not in f"{event.target_label} {event.details}"
    assert link.outside_registry and "王桂兰" in str(link) and mother not in str(link)


@pytest.mark.parametrize(
    ("id_number", "name", "code"),
    [("370402195001021230", "王", "invalid_id_number"), (None, "", "invalid"), ("MEMBER", "王", "family_link_relative_is_member"),
     ("SELF", "王", "family_link_self")],
)
def test_an_outside_link_is_refused_naming_the_rule_and_nothing_is_written(id_number, name, code, case_worker):
    member, other = MemberFactory(), MemberFactory()
    value = {"MEMBER": other.id_number, "SELF": member.id_number, None: new_id_number()}.get(id_number, id_number)
    with pytest.raises(DomainError) as refused:
        family_link_create_outside(member=member, relative_id_number=value, relative_name=name, relation="parent", user=case_worker)
    assert refused.value.code == code
    assert not FamilyLink.objects.exists()


def test_a_second_spouse_outside_the_registry_is_refused(case_worker):
    member, spouse = MemberFactory(), MemberFactory()
    family_link_create(member=member, relative=spouse, relation="spouse", user=case_worker)
    with pytest.raises(Conflict) as refused:
        family_link_create_outside(member=member, relative_id_number=new_id_number(), relative_name="李", relation="spouse", user=case_worker)
    assert refused.value.code == "family_link_second_spouse"
    assert FamilyLink.objects.count() == 2


def test_deleting_an_outside_link_deletes_that_link_only(case_worker):
    member = MemberFactory()
    first = family_link_create_outside(member=member, relative_id_number=new_id_number(), relative_name="甲", relation="child", user=case_worker)
    family_link_create_outside(member=member, relative_id_number=new_id_number(), relative_name="乙", relation="child", user=case_worker)
    family_link_delete(link=first, user=case_worker)
    assert list(FamilyLink.objects.values_list("relative_name", flat=True)) == ["乙"]


def test_import_family_links_takes_relative_name_for_a_relative_outside_the_registry(tmp_path, english):
    member, spouse = MemberFactory(), MemberFactory()
    father, stranger = new_id_number(date(1945, 3, 3)), new_id_number()
    path = write_table(tmp_path, "csv", [
        ["身份证号", "亲属身份证号", "关系", "亲属姓名"],
        [member.id_number, spouse.id_number, "配偶", ""],
        [member.id_number, father, "parent", "赵老汉"],
    ])
    out = io.StringIO()
    call_command("import_family_links", str(path), stdout=out, stderr=io.StringIO())
    assert "2 created" in out.getvalue()
    assert set(FamilyLink.objects.values_list("member", "relative", "relative_id_number", "relative_name", "relation")) == {
        (member.pk, spouse.pk, "", "", "spouse"), (spouse.pk, member.pk, "", "", "spouse"),
        (member.pk, None, father, "赵老汉", "parent")}
    out = io.StringIO()
    call_command("import_family_links", str(path), stdout=out, stderr=io.StringIO())
    assert "2 unchanged" in out.getvalue()
    # Not a member and no name: refused naming the row and column, nothing written.
    bad = write_table(tmp_path, "csv", [["id_number", "relative_id_number", "relation"], [member.id_number, stranger, "child"]])
    from core.imports.pipeline import import_file
    from members.importers import FamilyLinkImporter

    outcome = import_file(FamilyLinkImporter(), bad)
    assert [(e.row, e.column) for e in outcome.errors] == [(2, "relative_id_number")]
    assert "relative's name" in outcome.errors[0].reason
    assert FamilyLink.objects.count() == 3


def test_import_refuses_an_outside_spouse_for_a_member_who_has_one(tmp_path, case_worker):
    from core.imports.pipeline import import_file
    from members.importers import FamilyLinkImporter

    member, spouse = MemberFactory(), MemberFactory()
    family_link_create(member=member, relative=spouse, relation="spouse", user=case_worker)
    path = write_table(tmp_path, "csv", [["id_number", "relative_id_number", "relation", "relative_name"],
                                         [member.id_number, new_id_number(), "spouse", "钱"]])
    assert [(e.row, e.column) for e in import_file(FamilyLinkImporter(), path).errors] == [(2, "id_number")]
    assert FamilyLink.objects.count() == 2


def test_the_family_link_admin_adds_and_lists_an_outside_relative(client):
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    member = MemberFactory()
    child = new_id_number(date(2012, 8, 8))
    response = client.post(reverse("admin:members_familylink_add"),
                           {"member": member.pk, "relative_id_number": child, "relative_name": "孙小宝", "relation": "child"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    link = FamilyLink.objects.get()
    assert (link.member, link.relative, link.relative_id_number, link.relative_name) == (member, None, child, "孙小宝")
    listing = client.get(reverse("admin:members_familylink_changelist")).content.decode()
    assert "孙小宝" in listing and child not in listing


def test_the_family_link_admin_wants_a_member_or_an_outside_relative_not_both(client):
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    member, relative = MemberFactory(), MemberFactory()
    for data in ({"member": member.pk, "relation": "child"},
                 {"member": member.pk, "relative": relative.pk, "relative_id_number": new_id_number(), "relative_name": "x", "relation": "child"}):
        response = client.post(reverse("admin:members_familylink_add"), data, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    assert not FamilyLink.objects.exists()
