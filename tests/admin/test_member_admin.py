"""The member admin: masked ID numbers, search, history, inlines and a fixed query count."""

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.idnumber import mask_id_number
from core.models import AuditEvent
from core.roles import Role
from members.models import Enrollment, FamilyLink, Member
from tests.factories import MemberFactory, UserFactory, new_id_number

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:members_member_changelist")


@pytest.fixture
def case_worker(client):
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    return user


def _queries_for(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def test_member_list_masks_id_numbers(client, case_worker):
    member = MemberFactory(name="王建国")
    html = client.get(CHANGELIST).content.decode()
    assert member.id_number not in html
    assert mask_id_number(member.id_number) in html
    assert re.search(r"\d{6}\*{8}[\dX]{4}", html)


def test_member_changelist_runs_a_fixed_number_of_queries(client, case_worker, django_assert_num_queries):
    """Session, user, the authenticator that verified the session (django-otp, core.otp), the
    admin site's provider-staff check, the user's own and group permissions, the count (on
    PostgreSQL the estimate-or-count query), and the page: eight queries, for 3 members or 40."""
    MemberFactory.create_batch(3)
    with django_assert_num_queries(8):
        client.get(CHANGELIST)
    MemberFactory.create_batch(37)
    with django_assert_num_queries(8):
        response = client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 40


def test_member_changelist_query_count_is_the_same_on_page_two(client, case_worker):
    MemberFactory.create_batch(3)
    first = _queries_for(client, CHANGELIST)
    MemberFactory.create_batch(120)  # more than one page (100 a page)
    assert len(_queries_for(client, CHANGELIST + "?p=2")) == len(first)


def test_facet_counts_are_never_run_on_the_member_list(client, case_worker):
    MemberFactory.create_batch(3)
    plain = _queries_for(client, CHANGELIST)
    with_facets = _queries_for(client, CHANGELIST + "?_facets=True")
    assert len(with_facets) == len(plain)


def test_search_finds_a_member_by_full_id_number_prefix_and_name(client, case_worker):
    wanted = MemberFactory(name="李秀英")
    other = MemberFactory(name="张伟")
    for term in (wanted.id_number, wanted.id_number.lower(), wanted.id_number[:14], "李"):
        result = list(client.get(CHANGELIST, {"q": term}).context["cl"].result_list)
        assert wanted in result, term
        if term != wanted.id_number[:14]:
            assert other not in result, term


@pytest.mark.parametrize("term_of", [
    pytest.param(lambda m: m.id_number[-4:], id="last four digits"),
    pytest.param(lambda m: mask_id_number(m.id_number), id="masked number as listed"),
    pytest.param(lambda m: m.id_number[:6] + "*" + m.id_number[-4:], id="masked with one star"),
    pytest.param(lambda m: "秀", id="middle of the name"),
    pytest.param(lambda m: "秀英", id="end of the name"),
])
def test_search_finds_a_member_as_a_case_worker_on_the_phone_would(client, case_worker, term_of):
    """The masked lists show 370402********1234: each part a case worker can read finds the member."""
    wanted = MemberFactory(id_number=new_id_number(date(1971, 3, 9), prefix="370402"), name="李秀英")
    other = MemberFactory(id_number=new_id_number(date(1985, 6, 1), prefix="370481"), name="张伟")
    assert wanted.id_number[-4:] != other.id_number[-4:]
    result = list(client.get(CHANGELIST, {"q": term_of(wanted)}).context["cl"].result_list)
    assert result == [wanted]


def test_search_by_last_four_digits_on_a_list_of_member_things(client, case_worker):
    """Lists that belong to a member (family links here) search by the member the same way."""
    member, spouse = MemberFactory(), MemberFactory()
    link = FamilyLink.objects.create(member=member, relative=spouse, relation="spouse")
    response = client.get(reverse("admin:members_familylink_changelist"), {"q": link.member.id_number[-4:]})
    assert link in list(response.context["cl"].result_list)


def test_autocomplete_results_show_masked_id_numbers(client, case_worker):
    member = MemberFactory(name="刘芳")
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "members", "model_name": "familylink", "field_name": "relative", "term": "刘"},
    )
    assert response.status_code == 200
    texts = [row["text"] for row in response.json()["results"]]
    assert texts == [f"刘芳 ({mask_id_number(member.id_number)})"]
    assert member.id_number not in response.content.decode()


def test_member_change_page_shows_enrollment_family_registrations_and_episodes(client, case_worker):
    member = MemberFactory(enrollment__employer_name="枣庄矿业集团")
    response = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert response.status_code == 200
    prefixes = {formset.formset.prefix for formset in response.context["inline_admin_formsets"]}
    # The members app's inlines; claims adds the member's benefit years (its own test).
    assert prefixes >= {"enrollments", "family_links", "registrations", "episodes"}
    assert "枣庄矿业集团" in response.content.decode()


# Inlines other apps add to the member page, read-only: their management forms only.
READ_ONLY_INLINES = {
    "benefit_years-TOTAL_FORMS": "0", "benefit_years-INITIAL_FORMS": "0",
    "account-TOTAL_FORMS": "0", "account-INITIAL_FORMS": "0",
    "chronic_registrations-TOTAL_FORMS": "0", "chronic_registrations-INITIAL_FORMS": "0",
    "chosen_institutions-TOTAL_FORMS": "0", "chosen_institutions-INITIAL_FORMS": "0",
    "claims-TOTAL_FORMS": "0", "claims-INITIAL_FORMS": "0",
    # The member's primary-care registrations (members, add-only; tests/members/test_primary_care.py).
    "primary_care-TOTAL_FORMS": "0", "primary_care-INITIAL_FORMS": "0",
}


def _member_post_data(member, **overrides):
    data = {
        "name": member.name, "phone": "", "status": member.status, "died_on": "",
        "enrollments-TOTAL_FORMS": "0", "enrollments-INITIAL_FORMS": "0",
        "family_links-TOTAL_FORMS": "0", "family_links-INITIAL_FORMS": "0",
        "registrations-TOTAL_FORMS": "0", "registrations-INITIAL_FORMS": "0",
        "episodes-TOTAL_FORMS": "0", "episodes-INITIAL_FORMS": "0",
        **READ_ONLY_INLINES,
    }
    data.update(overrides)
    return data


def test_existing_enrollment_spells_are_read_only_and_new_ones_are_added(client, case_worker):
    member = MemberFactory()
    spell = member.enrollments.get()
    data = _member_post_data(
        member,
        **{
            # An attempt to rewrite the existing spell is ignored: it is read-only.
            "enrollments-TOTAL_FORMS": "2", "enrollments-INITIAL_FORMS": "1",
            "enrollments-0-id": str(spell.pk), "enrollments-0-member": str(member.pk),
            "enrollments-0-scheme": "pooled_only", "enrollments-0-effective_from": "2019-01-01",
            "enrollments-1-member": str(member.pk),
            "enrollments-1-effective_from": "2024-07-01", "enrollments-1-employment_status": "retired",
            "enrollments-1-retired_on": "2024-06-30", "enrollments-1-scheme": "combined",
            "enrollments-1-category": "employee", "enrollments-1-sector": "enterprise",
            "enrollments-1-monthly_pension": "3100.00",
        },
    )
    response = client.post(reverse("admin:members_member_change", args=[member.pk]), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    spells = list(member.enrollments.order_by("effective_from"))
    assert [(s.effective_from, s.scheme, s.employment_status) for s in spells] == [
        (date(2020, 1, 1), "combined", "in_service"),
        (date(2024, 7, 1), "combined", "retired"),
    ]
    assert spells[1].recorded_by == case_worker
    page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    enrollment_formset = next(
        f for f in page.context["inline_admin_formsets"] if f.formset.prefix == "enrollments"
    )
    assert not enrollment_formset.has_change_permission
    assert not enrollment_formset.has_delete_permission


def test_a_combined_member_cannot_go_back_to_pooled_only_ziyang_art_8_2(client, case_worker):
    """Ziyang 第八条(二): pooled-only → combined once, never back."""
    member = MemberFactory(enrollment__scheme="combined")
    data = _member_post_data(
        member,
        **{
            "enrollments-TOTAL_FORMS": "1", "enrollments-INITIAL_FORMS": "0",
            "enrollments-0-member": str(member.pk),
            "enrollments-0-effective_from": "2024-01-01", "enrollments-0-employment_status": "in_service",
            "enrollments-0-scheme": "pooled_only", "enrollments-0-category": "employee",
            "enrollments-0-sector": "enterprise",
        },
    )
    response = client.post(reverse("admin:members_member_change", args=[member.pk]), data)
    assert response.status_code == 200
    assert member.enrollments.count() == 1


def test_adding_a_family_link_on_the_member_page_adds_the_inverse(client, case_worker):
    parent, child = MemberFactory(), MemberFactory(born=date(2005, 3, 1))
    data = _member_post_data(
        child,
        **{
            "family_links-TOTAL_FORMS": "1", "family_links-INITIAL_FORMS": "0",
            "family_links-0-member": str(child.pk),
            "family_links-0-relative": str(parent.pk), "family_links-0-relation": "parent",
        },
    )
    response = client.post(reverse("admin:members_member_change", args=[child.pk]), data)
    assert response.status_code == 302
    assert set(FamilyLink.objects.values_list("member", "relative", "relation")) == {
        (child.pk, parent.pk, "parent"),
        (parent.pk, child.pk, "child"),
    }
    assert AuditEvent.objects.filter(action="family_link.create", actor=case_worker).count() == 1


def test_a_second_spouse_is_refused_on_the_member_page_and_nothing_is_written(client, case_worker):
    member, spouse, other = MemberFactory(), MemberFactory(), MemberFactory()
    FamilyLink.objects.create(member=member, relative=spouse, relation="spouse")
    FamilyLink.objects.create(member=spouse, relative=member, relation="spouse")
    data = _member_post_data(
        other,
        **{
            "family_links-TOTAL_FORMS": "1", "family_links-INITIAL_FORMS": "0",
            "family_links-0-member": str(other.pk),
            "family_links-0-relative": str(member.pk), "family_links-0-relation": "spouse",
        },
    )
    response = client.post(reverse("admin:members_member_change", args=[other.pk]), data)
    assert response.status_code == 200
    assert FamilyLink.objects.count() == 2
    assert not AuditEvent.objects.filter(action="family_link.create").exists()


def test_the_id_number_cannot_be_retyped_on_the_change_page(client, case_worker):
    member = MemberFactory()
    original = member.id_number
    data = _member_post_data(member, id_number="11010519491231002X", name="新名字")
    response = client.post(reverse("admin:members_member_change", args=[member.pk]), data)
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.id_number, member.name) == (original, "新名字")


def test_adding_a_member_derives_sex_and_birth_date_and_logs_a_masked_name(client, case_worker):
    from django.contrib.admin.models import LogEntry

    response = client.post(
        reverse("admin:members_member_add"),
        {
            "id_number": "11010519491231002x", "name": "赵军", "phone": "", "status": "active", "died_on": "",
            "enrollments-TOTAL_FORMS": "0", "enrollments-INITIAL_FORMS": "0",
            "family_links-TOTAL_FORMS": "0", "family_links-INITIAL_FORMS": "0",
            "registrations-TOTAL_FORMS": "0", "registrations-INITIAL_FORMS": "0",
            "episodes-TOTAL_FORMS": "0", "episodes-INITIAL_FORMS": "0",
            **READ_ONLY_INLINES,
        },
    )
    assert response.status_code == 302
    member = Member.objects.get(id_number="11010519491231002X")
    assert (member.sex, member.birth_date) == ("F", date(1949, 12, 31))
    entry = LogEntry.objects.get(object_id=str(member.pk))
    assert entry.object_repr == "赵军 (110105********002X)"
    assert member.history.get().history_user == case_worker


def test_a_deceased_member_needs_a_date_of_death(client, case_worker):
    member = MemberFactory()
    response = client.post(
        reverse("admin:members_member_change", args=[member.pk]), _member_post_data(member, status="deceased")
    )
    assert response.status_code == 200
    assert "died_on" in response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.status == "active"


def test_member_history_shows_who_changed_what(client, case_worker):
    member = MemberFactory(name="旧名")
    client.post(reverse("admin:members_member_change", args=[member.pk]), _member_post_data(member, name="新名"))
    response = client.get(reverse("admin:members_member_history", args=[member.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert case_worker.username in html
    assert "新名" in html and "旧名" in html


def test_enrollment_list_has_no_change_or_delete(client, case_worker):
    member = MemberFactory()
    spell = member.enrollments.get()
    response = client.post(
        reverse("admin:members_enrollment_change", args=[spell.pk]),
        {"member": member.pk, "effective_from": "2010-01-01", "employment_status": "retired",
         "scheme": "pooled_only", "category": "employee", "sector": "enterprise"},
    )
    assert response.status_code == 403
    assert client.get(reverse("admin:members_enrollment_delete", args=[spell.pk])).status_code == 403
    assert Enrollment.objects.get().effective_from == date(2020, 1, 1)


def test_the_audit_trail_is_read_only_and_searchable(client, case_worker):
    from core.audit import audit

    member = MemberFactory(name="孙娜")
    event = audit(actor=case_worker, action="member.read", target=member)
    audit(actor=case_worker, action="provider.read", label="H37040200001")
    url = reverse("admin:core_auditevent_changelist")
    found = list(client.get(url, {"q": "member.read"}).context["cl"].result_list)
    assert found == [event]
    assert list(client.get(url, {"q": "孙"}).context["cl"].result_list) == [event]
    change = reverse("admin:core_auditevent_change", args=[event.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"action": "forged"}).status_code == 403
    assert client.post(reverse("admin:core_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "member.read"


def test_a_new_member_is_added_with_a_spell_and_a_spouse_in_one_go(client, case_worker):
    spouse = MemberFactory()
    response = client.post(
        reverse("admin:members_member_add"),
        {
            "id_number": "11010519491231002X", "name": "赵军", "phone": "", "status": "active", "died_on": "",
            "enrollments-TOTAL_FORMS": "1", "enrollments-INITIAL_FORMS": "0",
            "enrollments-0-effective_from": "2024-01-01", "enrollments-0-employment_status": "retired",
            "enrollments-0-retired_on": "2009-12-31", "enrollments-0-scheme": "combined",
            "enrollments-0-category": "employee", "enrollments-0-sector": "government",
            "enrollments-0-monthly_pension": "4200.00",
            "family_links-TOTAL_FORMS": "1", "family_links-INITIAL_FORMS": "0",
            "family_links-0-relative": str(spouse.pk), "family_links-0-relation": "spouse",
            "registrations-TOTAL_FORMS": "0", "registrations-INITIAL_FORMS": "0",
            "episodes-TOTAL_FORMS": "0", "episodes-INITIAL_FORMS": "0", **READ_ONLY_INLINES,
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    member = Member.objects.get(id_number="11010519491231002X")
    assert member.enrollments.get().recorded_by == case_worker
    assert set(FamilyLink.objects.values_list("member", "relative", "relation")) == {
        (member.pk, spouse.pk, "spouse"), (spouse.pk, member.pk, "spouse"),
    }


def test_member_page_shows_the_account_balance_and_the_year_so_far(client, case_worker):
    from django.db import transaction

    from claims.models import MemberYear
    from members.models import LedgerEntry
    from members.services import account_post_entry
    from tests.factories import AccountFactory

    account = AccountFactory()
    with transaction.atomic():
        account_post_entry(account=account, kind=LedgerEntry.Kind.OPENING_BALANCE, amount="123.45")
    MemberYear.objects.create(member=account.member, year=2023, deductible_met="200.00", fund_paid="70.00", cap="1500.00")
    page = client.get(reverse("admin:members_member_change", args=[account.member.pk])).content.decode()
    assert "123.45" in page
    assert "1430.00" in page  # cap 1500.00 less 70.00 paid (Zaozhuang 第五条(三))
    assert "年度：<" in page and "年度:" not in page  # the year picker's label, full-width colon, no space


def test_a_relative_outside_the_registry_is_added_and_shown_on_the_member_page(client, case_worker):
    """CONTRACT.md "Account-only settlement": a link may name a relative insured elsewhere."""
    from tests.factories import new_id_number

    member = MemberFactory()
    mother = new_id_number(date(1952, 4, 5))
    data = _member_post_data(
        member,
        **{
            "family_links-TOTAL_FORMS": "1", "family_links-INITIAL_FORMS": "0",
            "family_links-0-member": str(member.pk),
            "family_links-0-relative_id_number": mother, "family_links-0-relative_name": "周秀英",
            "family_links-0-relation": "parent",
        },
    )
    response = client.post(reverse("admin:members_member_change", args=[member.pk]), data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][1].formset.errors
    assert list(FamilyLink.objects.values_list("member", "relative", "relative_id_number", "relative_name")) == [
        (member.pk, None, mother, "周秀英")]
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert "周秀英" in page


def test_a_bad_outside_relatives_id_number_is_refused_on_the_member_page(client, case_worker):
    member = MemberFactory()
    data = _member_post_data(
        member,
        **{
            "family_links-TOTAL_FORMS": "1", "family_links-INITIAL_FORMS": "0",
            "family_links-0-member": str(member.pk),
            "family_links-0-relative_id_number": "370402195204051230", "family_links-0-relative_name": "周秀英",
            "family_links-0-relation": "parent",
        },
    )
    response = client.post(reverse("admin:members_member_change", args=[member.pk]), data)
    assert response.status_code == 200
    assert not FamilyLink.objects.exists()


def _date_spellings(day: date) -> set[str]:
    return {day.isoformat(), f"{day:%Y%m%d}", f"{day.year}年{day.month}月{day.day}日", f"{day:%Y年%m月%d日}",
            f"{day:%Y/%m/%d}", f"{day.year}/{day.month}/{day.day}"}


def test_no_admin_list_shows_a_member_s_birth_date_beside_the_masked_number(client):
    """The masked digits of an ID number (370402********1234) are the birth date: a list that showed
    the birth date too would give the whole number back. Every changelist, with a member in the
    member, enrollment, family-link, registration and episode lists, shows neither."""
    from django.contrib import admin

    from members.models import Episode, Registration
    from members.services import family_link_create

    superuser = UserFactory(is_superuser=True, is_staff=True)
    superuser.save()  # the factory saves the password only with roles
    born = date(1971, 3, 17)
    member, relative = MemberFactory(born=born, name="赵立新"), MemberFactory(born=born)
    family_link_create(member=member, relative=relative, relation="spouse", user=superuser)
    Registration.objects.create(member=member, place="in_province", valid_from="2024-01-01")
    Episode.objects.create(member=member, kind="inpatient_stay", start_date="2024-02-01", end_date="2024-02-09")
    client.force_login(superuser)
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        html = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        for secret in _date_spellings(born) | {member.id_number, relative.id_number}:
            assert secret not in html, (url, secret)
    member_list = client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    age = member.age_on(timezone.localdate())
    assert "年龄" in member_list and f'<td class="field-member_age">{age}</td>' in member_list
