"""Ziyang 第八条(二): a scheme change takes effect the month after; arrears paid → benefits from
the month after paying; a settlement in between is refused with its own reason (issue 18)."""

from datetime import date

import pytest

from claims.models import Claim
from core.audit import AuditEvent
from members.models import Enrollment
from members.services import SCHEME_GOES_BACK, EnrollmentRefused, SchemeChangeRefused, enrollment_change_scheme
from tests.claims.conftest import catalog, make_member, provider_client, region  # noqa: F401
from tests.factories import ProviderFactory


def _post(client, member, visit_date, ref):
    return client.post(
        "/api/v1/settlements",
        {"member_id_number": member.id_number, "visit_date": visit_date, "external_ref": ref,
         "items": [{"code": "A-DRUG", "quantity": "50"}]},
        format="json",
    )


def test_in_service_change_takes_effect_the_month_after_article_8_2(region, catalog, provider_client):  # noqa: F811
    """Ziyang 第八条(二): 自变更次月起按统账结合方式费率缴费并建立个人账户 — until then the pooled-only
    cap applies (800 in service), from the next month the combined cap (2000)."""
    region("ziyang")
    member = make_member(scheme="pooled_only")
    spell = enrollment_change_scheme(member=member, applied_on=date(2023, 3, 15))
    assert (spell.effective_from, spell.scheme, spell.benefits_from) == (date(2023, 4, 1), "combined", None)
    assert AuditEvent.objects.filter(action="enrollment.change_scheme").count() == 1
    client = provider_client(ProviderFactory(kind="institution", level="level_2"))
    march = _post(client, member, "2023-03-20", "S-1").json()
    assert march["year"]["cap"] == "800.00"
    april = _post(client, member, "2023-04-01", "S-2").json()
    assert april["year"]["cap"] == "2000.00"


def test_a_second_change_is_refused_article_8_2(db):
    """Ziyang 第八条(二): 变更参保方式后不得再次变更 — refused by the one rule (scheme_goes_back), also
    for a history recorded before the rule (a pooled-only spell after the change, written directly)."""
    member = make_member(scheme="pooled_only")
    enrollment_change_scheme(member=member, applied_on=date(2023, 3, 15))
    with pytest.raises(EnrollmentRefused) as refused:
        enrollment_change_scheme(member=member, applied_on=date(2023, 5, 15))
    assert (refused.value.code, str(refused.value.message)) == ("scheme_goes_back", str(SCHEME_GOES_BACK))
    Enrollment.objects.create(member=member, effective_from=date(2023, 6, 1), employment_status="in_service", scheme="pooled_only")
    with pytest.raises(EnrollmentRefused) as refused:
        enrollment_change_scheme(member=member, applied_on=date(2023, 7, 15))
    assert refused.value.code == "scheme_goes_back"
    assert member.enrollments.count() == 3
    assert AuditEvent.objects.filter(action="enrollment.change_scheme").count() == 1


def test_retiree_paying_arrears_has_benefits_from_the_month_after_article_8_2(region, catalog, provider_client):  # noqa: F811
    """Ziyang 第八条(二): 补足缴费，次月起享受医保待遇，之前的医保待遇不再补办 — a visit between the
    payment and the next month is refused with benefits_not_started, nothing written."""
    region("ziyang")
    member = make_member(employment="retired", scheme="pooled_only")
    with pytest.raises(SchemeChangeRefused) as refused:
        enrollment_change_scheme(member=member, applied_on=date(2023, 5, 10))
    assert refused.value.code == "arrears_required"
    spell = enrollment_change_scheme(member=member, applied_on=date(2023, 5, 10), arrears_paid_on=date(2023, 5, 20))
    assert (spell.effective_from, spell.benefits_from) == (date(2023, 5, 20), date(2023, 6, 1))
    client = provider_client(ProviderFactory(kind="institution", level="level_2"))
    between = _post(client, member, "2023-05-25", "R-1")
    assert between.status_code == 400
    assert between.json()["code"] == "benefits_not_started"
    assert between.json()["details"]["benefits_from"] == "2023-06-01"
    assert Claim.objects.count() == 0
    june = _post(client, member, "2023-06-01", "R-2")
    assert june.status_code == 201 and june.json()["year"]["cap"] == "2500.00"
