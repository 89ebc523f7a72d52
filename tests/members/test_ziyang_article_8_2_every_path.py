"""Ziyang 第八条(二) on every path that changes a member's scheme.

资阳 第八条(二): 单建统筹参保人员可以变更为统账结合 …… 变更参保方式后不得再次变更. The rule has one
home, the pure members.rules.scheme_change_refusal; the enrollment service, the admin's enrollment
form and member page, the member import and the scheme change service all ask it. Each path
refuses the same forbidden change (a second change, after pooled-only → combined) with the same
code and message and writes nothing; each lets the one allowed change (pooled-only → combined)
through.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from core.imports.pipeline import import_file
from core.models import AuditEvent
from core.roles import Role
from members.importers import MemberImporter
from members.models import Enrollment
from members.services import SCHEME_GOES_BACK, EnrollmentRefused, enrollment_add, enrollment_change_scheme
from tests.admin.test_member_admin import _member_post_data
from tests.factories import MemberFactory, UserFactory
from tests.imports.helpers import write_table
from tests.imports.test_members_import import HEADER, member_row

pytestmark = pytest.mark.django_db

NEW_SPELL = date(2024, 1, 1)  # every path records its spell from this day
APPLIED_ON = date(2023, 12, 15)  # the scheme change service: in service, from the month after


# Each path records `scheme` for `member` from NEW_SPELL (as `user`, logged in on `client`: the
# login is audited too, so it happens before the counts) and answers (code, message) of its
# refusal, or None when it recorded the spell. The import has no codes (`row N, column C:
# reason`): it answers the code whose message its error carries, in the scheme column.


def via_enrollment_service(member, scheme, user, client, tmp_path):
    try:
        enrollment_add(member=member, user=user, effective_from=NEW_SPELL, scheme=scheme,
                       employment_status="in_service", category="employee", sector="enterprise",
                       contribution_base=Decimal("6000.00"))
    except EnrollmentRefused as refused:
        return refused.code, str(refused.message)
    return None


def via_enrollment_admin(member, scheme, user, client, tmp_path):
    response = client.post(reverse("admin:members_enrollment_add"), {
        "member": str(member.pk), "effective_from": NEW_SPELL.isoformat(), "employment_status": "in_service",
        "scheme": scheme, "category": "employee", "sector": "enterprise", "contribution_base": "6000.00",
        "employer_name": "", "employer_credit_code": "",
    })
    if response.status_code == 302:
        return None
    assert response.status_code == 200
    [error] = response.context["adminform"].form.non_field_errors().as_data()
    return error.code, str(error.message)


def via_member_page(member, scheme, user, client, tmp_path):
    response = client.post(reverse("admin:members_member_change", args=[member.pk]), _member_post_data(member, **{
        "enrollments-TOTAL_FORMS": "1", "enrollments-INITIAL_FORMS": "0",
        "enrollments-0-member": str(member.pk), "enrollments-0-effective_from": NEW_SPELL.isoformat(),
        "enrollments-0-employment_status": "in_service", "enrollments-0-scheme": scheme,
        "enrollments-0-category": "employee", "enrollments-0-sector": "enterprise",
        "enrollments-0-contribution_base": "6000.00",
    }))
    if response.status_code == 302:
        return None
    assert response.status_code == 200
    formset = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "enrollments")
    [error] = formset.non_form_errors().as_data()
    return error.code, str(error.message)


def via_member_import(member, scheme, user, client, tmp_path):
    path = write_table(tmp_path, "csv", [HEADER + ["effective_from"],
                                         member_row(member.id_number, name=member.name, scheme=scheme, phone="")
                                         + [NEW_SPELL.isoformat()]])
    outcome = import_file(MemberImporter(user=user), path)
    if not outcome.errors:
        return None
    [error] = outcome.errors
    assert (error.row, error.column, error.reason) == (2, "scheme", str(SCHEME_GOES_BACK))
    return "scheme_goes_back", error.reason


def via_scheme_change_service(member, scheme, user, client, tmp_path):
    """The service changes the scheme (it names no scheme): asked for the change the others record."""
    try:
        spell = enrollment_change_scheme(member=member, applied_on=APPLIED_ON, user=user)
    except EnrollmentRefused as refused:
        return refused.code, str(refused.message)
    assert (spell.effective_from, spell.scheme) == (NEW_SPELL, scheme)
    return None


PATHS = {
    # path: (how it records a spell, the audit action of what it records)
    "enrollment_add": (via_enrollment_service, "enrollment.add"),
    "enrollment admin form": (via_enrollment_admin, "enrollment.add"),
    "member page": (via_member_page, "enrollment.add"),
    "member import": (via_member_import, "import.members"),
    "enrollment_change_scheme": (via_scheme_change_service, "enrollment.change_scheme"),
}


def _counts():
    return Enrollment.objects.count(), AuditEvent.objects.count()


@pytest.mark.parametrize("path", list(PATHS))
def test_a_second_change_is_refused_alike_on_every_path_ziyang_art_8_2(path, client, tmp_path):
    """Ziyang 第八条(二) 变更参保方式后不得再次变更: a member who changed pooled-only → combined
    (2023-04, through the service) asks for another change on each path: the same refusal,
    scheme_goes_back with its one message, and nothing written."""
    change, _action = PATHS[path]
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    member = MemberFactory(enrollment__scheme="pooled_only")
    enrollment_change_scheme(member=member, applied_on=date(2023, 3, 15), user=user)
    history = list(member.enrollments.order_by("effective_from").values_list("effective_from", "scheme"))
    assert history == [(date(2020, 1, 1), "pooled_only"), (date(2023, 4, 1), "combined")]
    # The change the other paths would record: back to pooled-only (the service's own is "again").
    before = _counts()

    refusal = change(member, "pooled_only", user, client, tmp_path)

    assert refusal == ("scheme_goes_back", str(SCHEME_GOES_BACK))
    assert _counts() == before
    assert list(member.enrollments.order_by("effective_from").values_list("effective_from", "scheme")) == history


@pytest.mark.parametrize("path", list(PATHS))
def test_a_member_combined_from_the_start_cannot_change_on_any_path_ziyang_art_8_2(path, client, tmp_path):
    """Ziyang 第八条(二) allows one change only, pooled-only → combined: a combined member's change is
    refused alike everywhere (the scheme change service answered not_pooled_only before)."""
    change, _action = PATHS[path]
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    member = MemberFactory(enrollment__scheme="combined")
    before = _counts()

    assert change(member, "pooled_only", user, client, tmp_path) == ("scheme_goes_back", str(SCHEME_GOES_BACK))
    assert _counts() == before


@pytest.mark.parametrize("path", list(PATHS))
def test_the_one_allowed_change_passes_on_every_path_ziyang_art_8_2(path, client, tmp_path):
    """Ziyang 第八条(二): 单建统筹 → 统账结合 once: each path records the combined spell from
    2024-01-01, one spell and one audit event more."""
    change, action = PATHS[path]
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    member = MemberFactory(enrollment__scheme="pooled_only")
    spells, events = _counts()

    assert change(member, "combined", user, client, tmp_path) is None

    assert _counts() == (spells + 1, events + 1)
    assert list(member.enrollments.order_by("effective_from").values_list("effective_from", "scheme")) == [
        (date(2020, 1, 1), "pooled_only"), (NEW_SPELL, "combined")]
    assert AuditEvent.objects.get(action=action).actor == user
