"""Enrollment changes go through members.services.enrollment; Ziyang 第八条(二) ("pooled-only →
combined once, never back") has one home and one message, whoever asks (issue 12)."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from core.imports.pipeline import import_file
from core.models import AuditEvent
from core.roles import Role
from members.importers import MemberImporter
from members.models import Enrollment
from members.rules import scheme_change_refusal
from members.services import SCHEME_GOES_BACK, EnrollmentRefused, enrollment_add, enrollment_check_schemes
from tests.factories import MemberFactory, UserFactory
from tests.imports.helpers import write_table
from tests.imports.test_members_import import HEADER, member_row

pytestmark = pytest.mark.django_db

MESSAGE = ("The scheme changes only once, from pooled only to combined: a member who has been in the combined "
           "scheme cannot change scheme again (Ziyang 第八条(二)).")
CHINESE = "参保方式只能由单建统筹变更为统账结合一次：已参加过统账结合的参保人员不得再次变更参保方式（资阳 第八条（二））。"

FACTS = {"employment_status": "in_service", "category": "employee", "sector": "enterprise",
         "contribution_base": Decimal("6000.00")}


def test_the_pure_rule_ziyang_art_8_2():
    """Ziyang 第八条(二) (变更参保方式后不得再次变更): once combined, never pooled-only again, nor a
    second change; pooled-only → combined is allowed once. The spells are read in date order."""
    def days(*schemes):
        return [(date(2020 + year, 1, 1), scheme) for year, scheme in enumerate(schemes)]

    assert scheme_change_refusal(days("pooled_only", "pooled_only", "combined", "combined")) is None
    assert scheme_change_refusal(days("combined")) is None
    assert scheme_change_refusal([]) is None
    assert scheme_change_refusal(days("pooled_only", "combined", "pooled_only")) == "scheme_goes_back"
    assert scheme_change_refusal(days("combined", "pooled_only")) == "scheme_goes_back"
    assert scheme_change_refusal(days("pooled_only", "combined", "pooled_only", "combined")) == "scheme_goes_back"
    assert scheme_change_refusal([(date(2024, 1, 1), "combined"), (date(2020, 1, 1), "pooled_only")]) is None
    assert scheme_change_refusal([(date(2024, 1, 1), "pooled_only"), (date(2020, 1, 1), "combined")]) == "scheme_goes_back"
    with pytest.raises(EnrollmentRefused) as refused:
        enrollment_check_schemes([(date(2024, 1, 1), "pooled_only"), (date(2020, 1, 1), "combined")])
    assert refused.value.code == "scheme_goes_back" and refused.value.details == {"field": "scheme"}
    assert str(refused.value.message) == str(SCHEME_GOES_BACK)
    with translation.override("en"):
        assert str(SCHEME_GOES_BACK) == MESSAGE
    with translation.override("zh-hans"):
        assert str(SCHEME_GOES_BACK) == CHINESE


def test_the_service_records_a_spell_and_audits_it():
    member, user = MemberFactory(), UserFactory(roles=[Role.CASE_WORKER])
    spell = enrollment_add(member=member, user=user, effective_from=date(2024, 7, 1), scheme="combined",
                           **{**FACTS, "employment_status": "retired"}, retired_on=date(2024, 6, 30),
                           monthly_pension=Decimal("3100.00"))
    assert (spell.recorded_by, spell.employment_status, spell.retired_on) == (user, "retired", date(2024, 6, 30))
    event = AuditEvent.objects.get(action="enrollment.add")
    assert event.actor == user and event.target_id == str(member.pk)
    assert event.details == {"effective_from": "2024-07-01", "scheme": "combined", "employment_status": "retired"}


def test_the_service_refuses_going_back_and_writes_nothing():
    member, user = MemberFactory(enrollment__scheme="combined"), UserFactory(roles=[Role.CASE_WORKER])
    with pytest.raises(EnrollmentRefused) as refused:
        enrollment_add(member=member, user=user, effective_from=date(2024, 1, 1), scheme="pooled_only", **FACTS)
    assert str(refused.value.message) == str(SCHEME_GOES_BACK)
    assert member.enrollments.count() == 1 and not AuditEvent.objects.exists()


def test_the_enrollment_admin_adds_through_the_service_and_refuses_going_back(client):
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    member = MemberFactory(enrollment__scheme="combined")
    data = {"member": str(member.pk), "effective_from": "2024-01-01", "employment_status": "in_service",
            "category": "employee", "sector": "enterprise", "contribution_base": "6500.00",
            "employer_name": "", "employer_credit_code": ""}
    url = reverse("admin:members_enrollment_add")
    refused = client.post(url, {**data, "scheme": "pooled_only"})
    assert refused.status_code == 200
    assert MESSAGE in refused.content.decode() or CHINESE in refused.content.decode()
    assert member.enrollments.count() == 1 and not AuditEvent.objects.filter(action="enrollment.add").exists()

    added = client.post(url, {**data, "scheme": "combined"})
    assert added.status_code == 302
    spell = member.enrollments.get(effective_from=date(2024, 1, 1))
    assert (spell.contribution_base, spell.recorded_by) == (Decimal("6500.00"), user)
    assert AuditEvent.objects.get(action="enrollment.add").actor == user


def test_the_member_page_inline_adds_through_the_service_and_refuses_going_back(client):
    from tests.admin.test_member_admin import _member_post_data

    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    member = MemberFactory(enrollment__scheme="combined")

    def post(scheme):
        return client.post(reverse("admin:members_member_change", args=[member.pk]), _member_post_data(member, **{
            "enrollments-TOTAL_FORMS": "1", "enrollments-INITIAL_FORMS": "0",
            "enrollments-0-member": str(member.pk), "enrollments-0-effective_from": "2024-01-01",
            "enrollments-0-employment_status": "in_service", "enrollments-0-scheme": scheme,
            "enrollments-0-category": "employee", "enrollments-0-sector": "enterprise",
        }))

    refused = post("pooled_only")
    assert refused.status_code == 200
    assert MESSAGE in refused.content.decode() or CHINESE in refused.content.decode()
    assert member.enrollments.count() == 1 and not AuditEvent.objects.filter(action="enrollment.add").exists()
    assert post("combined").status_code == 302
    assert member.enrollments.filter(effective_from=date(2024, 1, 1), recorded_by=user).exists()
    assert AuditEvent.objects.get(action="enrollment.add").details["effective_from"] == "2024-01-01"


def test_the_importer_refuses_going_back_with_the_same_message(tmp_path):
    member = MemberFactory(enrollment__scheme="combined")
    path = write_table(tmp_path, "csv", [HEADER + ["effective_from"],
                                         member_row(member.id_number, name=member.name, scheme="pooled_only")
                                         + ["2024-01-01"]])
    outcome = import_file(MemberImporter(), path)
    assert [(e.row, e.column, e.reason) for e in outcome.errors] == [(2, "scheme", str(SCHEME_GOES_BACK))]
    assert list(member.enrollments.values_list("scheme", flat=True)) == [Enrollment.Scheme.COMBINED]
