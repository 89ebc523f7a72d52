"""Settlement through the API: refusals write nothing, idempotency, reversal, family sharing,
the member's year, and the number of queries one settlement takes."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from claims.models import Claim, ClaimLine, MemberYear
from core.models import AuditEvent
from members.models import FamilyLink, LedgerEntry, Member, PersonalAccount
from tests.factories import ProviderFactory, UserFactory

from .conftest import client_for, make_member


@pytest.fixture
def zaozhuang(region, catalog):
    region("zaozhuang")


@pytest.fixture
def level1(db):
    return ProviderFactory(kind="institution", level="level_1")


@pytest.fixture
def api(provider_client, level1):
    return provider_client(level1)


def body(member, **overrides):
    data = {
        "member_id_number": member.id_number,
        "visit_date": "2023-02-01",
        "external_ref": "HIS-1",
        "visit_place": "local",
        "use_account": True,
        "items": [{"code": "A-DRUG", "quantity": "30", "unit_price": "10.00"}],
    }
    data.update(overrides)
    return data


def written():
    """Everything a settlement writes."""
    return (
        Claim.objects.count(), ClaimLine.objects.count(), LedgerEntry.objects.count(),
        MemberYear.objects.count(), AuditEvent.objects.filter(action="claim.settle").count(),
        tuple(PersonalAccount.objects.order_by("pk").values_list("balance", flat=True)),
    )


def refused(api, data, code, status=400):
    before = written()
    response = api.post("/api/v1/settlements", data, format="json")
    assert response.status_code == status, response.json()
    payload = response.json()
    assert payload["code"] == code
    assert set(payload) == {"code", "message", "details"}
    assert written() == before, "a refusal wrote something"
    return payload


# --- refusals ---------------------------------------------------------------------------


def test_a_visit_of_more_lines_than_any_bill_has_is_refused_and_one_of_many_lines_settles(zaozhuang, api):
    from claims.serializers import MAX_ITEMS

    member = make_member(balance="0.00")
    line = {"code": "A-DRUG", "quantity": "1", "unit_price": "0.01"}
    payload = refused(api, body(member, items=[line] * (MAX_ITEMS + 1)), "invalid")
    assert "items" in payload["details"]
    settled = api.post("/api/v1/settlements", body(member, items=[line] * MAX_ITEMS), format="json")
    assert settled.status_code == 201, settled.json()
    assert (settled.json()["total"], len(settled.json()["lines"])) == ("10.00", MAX_ITEMS)
    assert ClaimLine.objects.count() == MAX_ITEMS


def test_unknown_item_is_refused_naming_its_index_and_code(zaozhuang, api):
    member = make_member(balance="100.00")
    data = body(member, items=[{"code": "A-DRUG", "quantity": "1"}, {"code": "NOPE", "quantity": "1", "unit_price": "5.00"}])
    payload = refused(api, data, "unknown_item")
    assert payload["details"]["items"][0] == {
        "index": 1, "position": 2, "code": "NOPE", "field": "code", "error": "unknown_item",
        "message": "第2项（NOPE）不在医保目录中。"}


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"code": "A-DRUG", "quantity": "0", "unit_price": "10.00"}, "quantity_not_positive"),
        ({"code": "A-DRUG", "quantity": "-2", "unit_price": "10.00"}, "quantity_not_positive"),
        ({"code": "A-DRUG", "quantity": "1", "unit_price": "0.00"}, "unit_price_not_positive"),
        ({"code": "A-SVC", "quantity": "1"}, "unit_price_required"),
    ],
)
def test_quantity_or_price_not_positive_is_refused(zaozhuang, api, item, code):
    member = make_member(balance="100.00")
    payload = refused(api, body(member, items=[item]), code)
    assert payload["details"]["items"][0]["index"] == 0


def test_visit_date_in_the_future_is_refused(zaozhuang, api):
    member = make_member(balance="100.00")
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert refused(api, body(member, visit_date=tomorrow), "visit_date_in_future")["details"]["field"] == "visit_date"


def test_visit_before_enrollment_is_refused(zaozhuang, api):
    member = make_member(balance="100.00")
    refused(api, body(member, visit_date="2019-06-01"), "not_enrolled")


def test_invalid_id_number_is_refused(zaozhuang, api):
    member = make_member()
    bad = member.id_number[:-1] + ("0" if member.id_number[-1] != "0" else "1")
    assert refused(api, body(member, member_id_number=bad), "invalid_id_number")["details"]["field"] == "member_id_number"


def test_unknown_member_is_not_found(zaozhuang, api):
    member = make_member()
    other = member.id_number
    Member.objects.filter(pk=member.pk).update(id_number="110101199001011237")
    refused(api, body(member, member_id_number=other), "member_not_found", status=404)


@pytest.mark.parametrize(("changes", "code"), [({"status": "suspended"}, "provider_suspended"), ({"outpatient_pooling": False}, "provider_not_in_outpatient_pooling")])
def test_suspended_provider_or_outside_outpatient_pooling_is_refused(zaozhuang, provider_client, changes, code):
    provider = ProviderFactory(kind="institution", level="level_2", **changes)
    member = make_member(balance="100.00")
    refused(provider_client(provider), body(member), code)


def test_payer_who_is_not_a_linked_relative_is_refused(zaozhuang, api):
    member, stranger = make_member(), make_member(balance="500.00")
    refused(api, body(member, payer_id_number=stranger.id_number), "payer_not_relative")


def test_missing_policy_parameter_is_refused_naming_it(region, catalog, api):
    """Jinan (四): the deductible ships empty (**param**)."""
    region("jinan")
    member = make_member(balance="100.00")
    payload = refused(api, body(member, visit_date="2024-03-01"), "policy_parameter_missing")
    assert payload["details"]["parameter"] == "deductible.amount"


def test_no_policy_in_force_is_refused(zaozhuang, api):
    member = make_member(balance="100.00")
    refused(api, body(member, visit_date="2022-06-01"), "policy_version_missing")


def test_local_provider_cannot_send_an_out_of_area_visit(zaozhuang, api):
    member = make_member(balance="100.00")
    refused(api, body(member, visit_place="out_of_province"), "visit_place_invalid")


def test_cross_region_platform_must_name_the_remote_provider(zaozhuang, platform_client):
    member = make_member(balance="100.00")
    payload = refused(platform_client, body(member, visit_place="in_province"), "remote_provider_required")
    assert set(payload["details"]["fields"]) == {"remote_provider_code", "remote_provider_name", "provider_level"}


def test_malformed_body_is_refused_in_the_one_error_shape(zaozhuang, api):
    member = make_member()
    payload = refused(api, body(member, items=[]), "invalid")
    assert "items" in payload["details"]


def test_agency_staff_cannot_settle(zaozhuang, catalog):
    worker = UserFactory(roles=["经办"])
    response = client_for(worker).post("/api/v1/settlements", body(make_member()), format="json")
    assert response.status_code == 403
    assert Claim.objects.count() == 0


# --- preview, idempotency, reversal ------------------------------------------------------


def test_preview_computes_and_writes_nothing(zaozhuang, api):
    member = make_member(balance="500.00")
    before = written()
    response = api.post("/api/v1/settlements/preview", body(member), format="json")
    assert response.status_code == 200
    assert (response.json()["fund"], response.json()["account"], response.json()["balance_after"]) == ("70.00", "230.00", "270.00")
    assert "settlement_id" not in response.json()
    assert response.json()["warnings"] == []
    assert written() == before


def test_repeat_returns_the_first_response_and_pays_nothing_more(zaozhuang, api):
    """Zaozhuang 第十五条 real-time settlement; Stripe-style idempotency."""
    member = make_member(balance="500.00")
    first = api.post("/api/v1/settlements", body(member), format="json")
    again = api.post("/api/v1/settlements", body(member, items=[{"code": "A-DRUG", "quantity": "30.0", "unit_price": "10"}]), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Claim.objects.count() == 1
    assert member.account.__class__.objects.get(member=member).balance == Decimal("270.00")


def test_same_reference_with_another_body_is_a_conflict(zaozhuang, api):
    member = make_member(balance="500.00")
    assert api.post("/api/v1/settlements", body(member), format="json").status_code == 201
    payload = refused(api, body(member, items=[{"code": "A-DRUG", "quantity": "31", "unit_price": "10.00"}]), "external_ref_conflict", status=409)
    assert payload["details"]["external_ref"] == "HIS-1"


def test_same_reference_from_another_provider_is_another_settlement(zaozhuang, api, provider_client):
    member = make_member(balance="500.00")
    other = provider_client(ProviderFactory(kind="institution", level="level_1"))
    assert api.post("/api/v1/settlements", body(member), format="json").status_code == 201
    assert other.post("/api/v1/settlements", body(member), format="json").status_code == 201
    assert Claim.objects.count() == 2


def test_reversal_restores_the_year_and_refunds_and_twice_returns_the_first(zaozhuang, api):
    member = make_member(balance="500.00")
    settled = api.post("/api/v1/settlements", body(member), format="json").json()
    url = f"/api/v1/settlements/{settled['settlement_id']}/reverse"
    first = api.post(url, {"reason": "患者退费"}, format="json")
    second = api.post(url, {}, format="json")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["account_refund"] == "230.00"
    assert PersonalAccount.objects.get(member=member).balance == Decimal("500.00")
    year = MemberYear.objects.get(member=member, year=2023)
    assert (year.deductible_met, year.fund_paid) == (Decimal("0.00"), Decimal("0.00"))
    refund = LedgerEntry.objects.get(kind=LedgerEntry.Kind.SETTLEMENT_REFUND)
    assert refund.amount == Decimal("230.00") and refund.reverses.amount == Decimal("-230.00")
    assert Claim.objects.get().status == Claim.Status.REVERSED


def test_another_provider_cannot_reverse(zaozhuang, api, provider_client):
    member = make_member(balance="500.00")
    settled = api.post("/api/v1/settlements", body(member), format="json").json()
    other = provider_client(ProviderFactory(kind="institution", level="level_1"))
    response = other.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {}, format="json")
    assert response.status_code == 403
    assert Claim.objects.get().status == Claim.Status.SETTLED


def test_agency_staff_may_reverse(zaozhuang, api):
    member = make_member(balance="500.00")
    settled = api.post("/api/v1/settlements", body(member), format="json").json()
    worker = client_for(UserFactory(roles=["经办"]))
    assert worker.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {"reason": "经办撤销"}, format="json").status_code == 200
    assert PersonalAccount.objects.get(member=member).balance == Decimal("500.00")


# --- family sharing, internet hospitals, pharmacies ------------------------------------


def test_family_sharing_pays_from_the_linked_relatives_account(zaozhuang, api):
    """家庭共济: a parent's account pays the child's burden (Zaozhuang 第八条)."""
    child, parent = make_member(), make_member(balance="100.00")
    FamilyLink.objects.create(member=child, relative=parent, relation="parent")
    FamilyLink.objects.create(member=parent, relative=child, relation="child")
    response = api.post("/api/v1/settlements", body(child, payer_id_number=parent.id_number), format="json")
    assert response.status_code == 201, response.json()
    got = response.json()
    assert (got["fund"], got["account"], got["family_account"], got["cash"], got["balance_after"]) == ("70.00", "0.00", "100.00", "130.00", "0.00")
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.FAMILY_SHARING_PAYMENT)
    assert (entry.account.member_id, entry.amount) == (parent.pk, Decimal("-100.00"))


def test_internet_hospital_takes_its_physical_institutions_level(region, catalog, provider_client):
    """Jinan (十二): internet hospitals follow the institution they rely on."""
    region("zaozhuang")
    hospital = ProviderFactory(kind="institution", level="level_3")
    online = ProviderFactory(kind="institution", level="internet_hospital", parent=hospital)
    member = make_member()
    got = provider_client(online).post("/api/v1/settlements", body(member, items=[{"code": "A-DRUG", "quantity": "100"}]), format="json").json()
    assert (got["deductible"], got["ratio"], got["fund"]) == ("800.00", "50.00", "100.00")


def test_zaozhuang_pharmacy_takes_the_prescribing_institutions_level(region, catalog, provider_client):
    """Zaozhuang 第十三条: external prescriptions at pharmacies, same policy as institutions."""
    region("zaozhuang")
    pharmacy = provider_client(ProviderFactory(kind="pharmacy"))
    prescriber = ProviderFactory(kind="institution", level="level_2")
    member = make_member()
    refused(pharmacy, body(member), "prescription_required")
    got = pharmacy.post("/api/v1/settlements", body(member, prescribed_by_code=prescriber.code, items=[{"code": "A-DRUG", "quantity": "100"}]), format="json").json()
    assert (got["deductible"], got["ratio"], got["fund"]) == ("400.00", "60.00", "360.00")


def test_pooled_only_member_has_no_account_to_use(region, catalog, api):
    """Ziyang 第五条(三): 单建统筹 has no personal account."""
    region("ziyang")
    member = make_member(scheme="pooled_only")
    got = api.post("/api/v1/settlements", body(member), format="json").json()
    assert (got["account"], got["balance_after"]) == ("0.00", None)


def test_deceased_member_is_denied_after_death(zaozhuang, api):
    member = make_member(balance="500.00")
    Member.objects.filter(pk=member.pk).update(status="deceased", died_on=date(2023, 1, 15))
    got = api.post("/api/v1/settlements", body(member), format="json").json()
    assert (got["denied_reason"], got["fund"], got["account"], got["cash"]) == ("member_deceased", "0.00", "0.00", "300.00")


# --- the member's year ------------------------------------------------------------------


def test_benefits_read_is_audited_with_who_asked(zaozhuang, api, level1):
    member = make_member(balance="500.00")
    api.post("/api/v1/settlements", body(member), format="json")
    response = api.get(f"/api/v1/members/{member.id_number}/benefits?year=2023")
    assert response.status_code == 200
    got = response.json()
    assert (got["deductible_met"], got["fund_paid"], got["cap"], got["cap_remaining"], got["account_balance"]) == (
        "200.00", "70.00", "1500.00", "1430.00", "270.00")
    assert (got["status"], got["employment_status"], got["scheme"]) == ("active", "in_service", "combined")
    event = AuditEvent.objects.get(action="member.benefits.read")
    assert event.actor.provider_staff.provider == level1
    assert member.id_number not in str(event.details) + event.target_label


def test_benefits_of_a_year_without_claims_shows_the_policy_cap(zaozhuang, api):
    member = make_member(employment="retired")
    got = api.get(f"/api/v1/members/{member.id_number}/benefits?year=2024").json()
    assert (got["fund_paid"], got["cap"], got["cap_remaining"]) == ("0.00", "1500.00", "1500.00")


# --- hot path ---------------------------------------------------------------------------


def test_one_settlement_takes_a_fixed_number_of_queries(zaozhuang, api, django_assert_num_queries):
    """Pinned so that a change adding queries to the hot path is noticed (zulip style)."""
    member = make_member(balance="500.00")
    api.post("/api/v1/settlements", body(member, external_ref="warm-up"), format="json")
    # 13 statements + the transaction's SAVEPOINT/RELEASE (BEGIN/COMMIT outside tests): token
    # with provider, catalog, member with account/enrollment/episodes, policy, year lock,
    # account lock, claim, lines, balance (one UPDATE … RETURNING), ledger entry, year, audit,
    # and the monitoring knowledge base's version token (supervision.realtime: one cached lookup).
    with django_assert_num_queries(15):
        response = api.post("/api/v1/settlements", body(member, external_ref="HIS-2", visit_date="2023-02-02"), format="json")
    assert response.status_code == 201


def test_family_sharing_reversal_refunds_the_relatives_account(zaozhuang, api):
    child, parent = make_member(), make_member(balance="100.00")
    FamilyLink.objects.create(member=child, relative=parent, relation="parent")
    settled = api.post("/api/v1/settlements", body(child, payer_id_number=parent.id_number), format="json").json()
    reversal = api.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {}, format="json").json()
    assert (reversal["family_account_refund"], reversal["balance_after"]) == ("100.00", "100.00")
    assert PersonalAccount.objects.get(member=parent).balance == Decimal("100.00")


def test_cross_region_platform_settles_and_reverses_its_own(zaozhuang, platform_client):
    """Zaozhuang 第六条: a temporary visit in province prepays 10% first."""
    member = make_member()
    data = body(member, visit_place="in_province", provider_level="level_3", remote_provider_code="H32010000001",
                remote_provider_name="南京某医院", use_account=False, items=[{"code": "A-DRUG", "quantity": "100"}])
    settled = platform_client.post("/api/v1/settlements", data, format="json")
    assert settled.status_code == 201, settled.json()
    got = settled.json()
    assert (got["temporary_visit_prepay"], got["deductible"], got["fund"]) == ("100.00", "800.00", "50.00")
    claim = Claim.objects.get()
    assert (claim.provider, claim.submitter, claim.remote_provider_code, claim.temporary_visit) == (None, "cross_region", "H32010000001", True)
    assert platform_client.post(f"/api/v1/settlements/{claim.pk}/reverse", {}, format="json").status_code == 200


def test_a_single_visit_rule_plugged_into_supervision_warns_in_the_response(zaozhuang, api, monkeypatch):
    from supervision import realtime

    def big_quantity(facts):
        return [realtime.Warning("quantity", "数量偏大", line.position) for line in facts.lines if line.quantity > 20]

    monkeypatch.setattr(realtime, "SINGLE_VISIT_RULES", [big_quantity])
    member = make_member()
    got = api.post("/api/v1/settlements", body(member, use_account=False), format="json").json()
    assert got["warnings"] == [{"rule": "quantity", "message": "数量偏大", "item": 0}]


def test_repeat_after_the_provider_was_suspended_still_returns_the_first_response(zaozhuang, api, level1):
    member = make_member(balance="500.00")
    first = api.post("/api/v1/settlements", body(member), format="json").json()
    level1.status = "suspended"
    level1.save()
    again = api.post("/api/v1/settlements", body(member), format="json")
    assert (again.status_code, again.json()) == (200, first)


def test_settlement_keeps_working_when_redis_is_down(zaozhuang, api, settings):
    """Settlement never needs the broker or the cache: with Redis unreachable (nothing listens
    on port 1) a visit still settles, and the member's year and account are written."""
    from config.celery import app

    dead = "redis://127.0.0.1:1/0"
    settings.REDIS_URL = dead
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}}
    app.conf.broker_url = dead
    try:
        member = make_member(balance="500.00")
        settled = api.post("/api/v1/settlements", body(member), format="json")
    finally:
        app.conf.broker_url = "memory://"
    assert settled.status_code == 201, settled.json()
    # Zaozhuang 第五条: 300.00 at level 1, deductible 200, 70% → fund 70.00, account 230.00.
    assert (settled.json()["fund"], settled.json()["account"]) == ("70.00", "230.00")
    assert PersonalAccount.objects.get(member=member).balance == Decimal("270.00")
