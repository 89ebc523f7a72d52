"""Chronic and special disease settlement through the HTTP API (benefit "chronic_special"):
each region's stacking rule, registrations (expiry, designated provider), the yearly limit
across visits and its return on reversal, the disease's scope, Jinan (七)'s second payment
counting chronic and imported inpatient burden, idempotency and nothing written on refusal.

The money parameters here are example values (the texts set none; the presets ship them empty)."""

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from claims import chronic
from claims.models import ChronicClaim, ChronicYear, Claim, Disease, MemberYear
from claims.policy_services import policy_load
from core.errors import DomainError
from members.models import LedgerEntry, PersonalAccount
from tests.factories import ProviderFactory, UserFactory

from .conftest import make_member

pytestmark = pytest.mark.django_db

PRESETS = Path(__file__).resolve().parents[2] / "claims" / "policies" / "chronic_special"


def terms(deductible="0.00", ratio=80, limit="1000.00", tally="disease", retired_bonus=0):
    return {"tally": tally, "deductible": deductible, "ratio_percent": ratio, "retired_bonus": retired_bonus, "annual_limit": limit}


def load_chronic(region: str, *, groups: dict | None = None, diseases: dict | None = None, **top) -> None:
    data = json.loads((PRESETS / f"{region}.json").read_text(encoding="utf-8"))
    parameters = data["versions"][0]["parameters"]
    for group, values in (groups or {}).items():
        parameters["groups"][group] = values
    parameters["diseases"] = copy.deepcopy(diseases or {})
    parameters.update(top)
    policy_load(data=data)


@pytest.fixture
def world(settings, region, catalog, provider_client):
    """A region's pooling preset, its chronic preset with example values, two providers with
    API clients and a registration helper (proposed by one case worker, approved by another)."""

    class World:
        pass

    w = World()
    w.hospital = ProviderFactory(kind="institution", level="level_2")
    w.other = ProviderFactory(kind="institution", level="level_2")
    w.client = provider_client(w.hospital)
    w.other_client = provider_client(w.other)
    proposer, approver = UserFactory(roles=["经办"]), UserFactory(roles=["经办"])

    def setup(name, pooling: dict | None = None, **chronic_values):
        region(name, **(pooling or {}))
        load_chronic(name, **chronic_values)

    def register(member, code, group="special", valid_from=date(2023, 1, 1), valid_to=None, designated=None):
        disease = Disease.objects.get_or_create(region=settings.REGION, code=code, defaults={"name": code, "group": group})[0]
        registration = chronic.registration_propose(
            user=proposer, member=member, disease=disease, valid_from=valid_from, valid_to=valid_to, designated_provider=designated)
        return chronic.registration_approve(user=approver, registration=registration)

    w.setup, w.register = setup, register
    return w


def body(member, code, ref, items, visit_date="2023-03-01", **extra):
    return {"member_id_number": member.id_number, "visit_date": visit_date, "external_ref": ref,
            "benefit": "chronic_special", "disease_code": code, "items": items, **extra}


def drugs(quantity, code="A-DRUG"):
    return [{"code": code, "quantity": str(quantity)}]


def nothing_written(member):
    assert not Claim.objects.filter(member=member).exists()
    assert not ChronicYear.objects.filter(member=member).exists()
    assert not ChronicClaim.objects.exists()
    assert not LedgerEntry.objects.filter(account__member=member, kind=LedgerEntry.Kind.SETTLEMENT_PAYMENT).exists()


# --- Zaozhuang 第十一条: both benefits at once ------------------------------------------------


def test_zaozhuang_article_11_chronic_and_ordinary_pooling_are_both_enjoyed_each_with_its_own_year(world):
    """Zaozhuang 第十一条: ordinary outpatient and chronic/special benefits may be enjoyed at the
    same time; the chronic visit uses its own tally and leaves the ordinary year alone."""
    world.setup("zaozhuang", groups={"special": terms(deductible="100.00", ratio=80, limit="1000.00")})
    member = make_member()
    world.register(member, "S1")
    response = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(30)), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    # 300.00 in scope: deductible 100.00, fund (300 − 100) × 80% = 160.00, member 140.00.
    assert (data["total"], data["deductible"], data["ratio"], data["fund"], data["personal_burden"], data["cash"]) == (
        "300.00", "100.00", "80.00", "160.00", "140.00", "140.00")
    assert data["benefit"] == "chronic_special" and data["disease_code"] == "S1"
    assert data["year"]["tally"] == "disease:S1"
    assert (data["year"]["fund_paid"], data["year"]["cap"], data["year"]["cap_remaining"]) == ("160.00", "1000.00", "840.00")

    ordinary = world.client.post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": "2023-03-01", "external_ref": "P-1", "items": drugs(10)}, format="json")
    assert ordinary.status_code == 201, ordinary.json()
    pooling_fund = Decimal(ordinary.json()["fund"])
    year = MemberYear.objects.get(member=member, year=2023)
    assert year.fund_paid == pooling_fund  # the chronic 160.00 is not in the ordinary year
    assert ChronicYear.objects.get(member=member, year=2023, tally="disease:S1").fund_paid == Decimal("160.00")
    claim = Claim.objects.get(external_ref="C-1")
    assert claim.benefit == "chronic_special" and claim.chronic.disease.code == "S1"


# --- registrations: none, expired mid-year, designated provider --------------------------------


def test_not_registered_is_refused_before_any_parameter_and_writes_nothing(world):
    world.setup("zaozhuang")  # the preset as shipped: every money parameter empty
    member = make_member()
    Disease.objects.create(region="zaozhuang", code="S1", name="S1", group="special")
    response = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(3)), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "not_registered_for_disease"
    nothing_written(member)
    world.register(member, "S1")
    response = world.client.post("/api/v1/settlements", body(member, "S1", "C-2", drugs(3)), format="json")
    assert response.json()["code"] == "policy_parameter_missing"
    assert response.json()["details"]["parameter"] == "groups.special.deductible"
    nothing_written(member)


def test_a_registration_expiring_mid_year_covers_its_last_day_only(world):
    world.setup("zaozhuang", groups={"chronic": terms(ratio=50)})
    member = make_member()
    world.register(member, "C1", group="chronic", valid_to=date(2023, 6, 30))
    last = world.client.post("/api/v1/settlements", body(member, "C1", "C-1", drugs(2), visit_date="2023-06-30"), format="json")
    assert last.status_code == 201 and last.json()["fund"] == "10.00"
    after = world.client.post("/api/v1/settlements", body(member, "C1", "C-2", drugs(2), visit_date="2023-07-01"), format="json")
    assert after.status_code == 400 and after.json()["code"] == "not_registered_for_disease"
    assert Claim.objects.filter(member=member).count() == 1


def test_a_revoked_registration_no_longer_settles(world):
    world.setup("zaozhuang", groups={"chronic": terms(ratio=50)})
    member = make_member()
    registration = world.register(member, "C1", group="chronic")
    chronic.registration_revoke(user=UserFactory(roles=["经办"]), registration=registration, reason="认定有误")
    response = world.client.post("/api/v1/settlements", body(member, "C1", "C-1", drugs(2)), format="json")
    assert response.json()["code"] == "not_registered_for_disease"
    nothing_written(member)


def test_a_designated_provider_is_required_when_the_registration_names_one(world):
    world.setup("zaozhuang", groups={"special": terms(ratio=70)})
    member = make_member()
    world.register(member, "S1", designated=world.hospital)
    elsewhere = world.other_client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(2)), format="json")
    assert elsewhere.status_code == 400
    assert elsewhere.json()["code"] == "designated_provider_required"
    assert elsewhere.json()["details"]["designated_provider_code"] == world.hospital.code
    nothing_written(member)
    there = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(2)), format="json")
    assert there.status_code == 201 and there.json()["fund"] == "14.00"


# --- the yearly limit across visits, and a reversal giving it back -----------------------------


def test_yearly_limit_is_reached_across_visits_and_a_reversal_gives_it_back(world):
    world.setup("zaozhuang", groups={"special": terms(ratio=100, limit="300.00")})
    member = make_member()
    world.register(member, "S1")
    funds = []
    for n in range(3):
        response = world.client.post("/api/v1/settlements", body(member, "S1", f"C-{n}", drugs(20)), format="json")
        assert response.status_code == 201
        funds.append(response.json()["fund"])
    assert funds == ["200.00", "100.00", "0.00"]  # 300.00 in all, never past the limit
    assert ChronicYear.objects.get(member=member).fund_paid == Decimal("300.00")
    second = Claim.objects.get(external_ref="C-1")
    reversal = world.client.post(f"/api/v1/settlements/{second.pk}/reverse", {"reason": "退费"}, format="json")
    assert reversal.status_code == 200
    assert reversal.json()["year"]["fund_paid"] == "200.00" and reversal.json()["year"]["cap_remaining"] == "100.00"
    again = world.client.post("/api/v1/settlements", body(member, "S1", "C-9", drugs(20)), format="json")
    assert again.json()["fund"] == "100.00"
    assert MemberYear.objects.get(member=member, year=2023).fund_paid == Decimal("0.00")  # ordinary year untouched


# --- the disease's scope --------------------------------------------------------------------------


def test_items_outside_the_diseases_scope_are_personal_burden_with_the_reason(world):
    world.setup("zaozhuang", groups={"two_diseases": terms(ratio=60, tally="group")},
                diseases={"M03900": {"scope": ["A-DRUG"]}})
    member = make_member()
    world.register(member, "M03900", group="two_diseases")
    response = world.client.post("/api/v1/settlements", body(member, "M03900", "C-1", [
        {"code": "A-DRUG", "quantity": "10"}, {"code": "B-DRUG", "quantity": "1"}]), format="json")
    data = response.json()
    assert response.status_code == 201, data
    # A-DRUG 100.00 in scope × 60% = 60.00; B-DRUG 50.00 outside the disease's scope.
    assert (data["total"], data["policy_scope"], data["outside_disease_scope"], data["fund"], data["personal_burden"]) == (
        "150.00", "100.00", "50.00", "60.00", "90.00")
    assert [(line["code"], line["in_disease_scope"], line["reason"]) for line in data["lines"]] == [
        ("A-DRUG", True, None), ("B-DRUG", False, "outside_disease_scope")]
    assert data["year"]["tally"] == "group:two_diseases"
    assert ChronicClaim.objects.get().out_of_scope == Decimal("50.00")
    # The stored lines (claims.services.insert_claim, as pooling writes them): the line outside
    # the disease's scope keeps no policy-scope amount.
    stored = ChronicClaim.objects.get().claim.lines.order_by("position")
    assert [(line.catalog_item.code, line.amount, line.policy_scope) for line in stored] == [
        ("A-DRUG", Decimal("100.00"), Decimal("100.00")), ("B-DRUG", Decimal("50.00"), Decimal("0.00"))]


# --- Ziyang 第九条: 两病 and special disease are exclusive -----------------------------------------


def test_ziyang_article_9_a_special_disease_ends_the_two_diseases_benefit(world):
    """Ziyang 第九条: a 两病 patient meeting a special-disease standard is managed as special
    disease and may not enjoy both: from the special registration on, 两病 no longer settles."""
    world.setup("ziyang", groups={"two_diseases": terms(ratio=50, limit="300.00", tally="group"),
                                  "special": terms(ratio=85, limit="20000.00")})
    member = make_member()
    world.register(member, "M03900", group="two_diseases")
    before = world.client.post("/api/v1/settlements", body(member, "M03900", "C-1", drugs(4), visit_date="2023-03-01"), format="json")
    assert before.status_code == 201 and before.json()["fund"] == "20.00"
    world.register(member, "S-RENAL", group="special", valid_from=date(2023, 5, 1))
    refused = world.client.post("/api/v1/settlements", body(member, "M03900", "C-2", drugs(4), visit_date="2023-05-02"), format="json")
    assert refused.json()["code"] == "not_registered_for_disease"
    special = world.client.post("/api/v1/settlements", body(member, "S-RENAL", "C-3", drugs(4), visit_date="2023-05-02"), format="json")
    assert special.status_code == 201 and special.json()["fund"] == "34.00"
    with pytest.raises(chronic.RegistrationRefused):
        world.register(member, "M01600", group="two_diseases", valid_from=date(2023, 6, 1))


# --- Yangzhou 二(四)2: each by its own standard ---------------------------------------------------


def test_yangzhou_chronic_and_special_costs_are_each_settled_by_their_own_standard(world):
    """Yangzhou 二(四)1–2: chronic (former class 2) and special (former class 1) diseases keep
    their own policies; a member with both has each settled by its own standard and tally."""
    world.setup("yangzhou", pooling={"ratio_in_service": {"level_1": 70, "level_2": 70, "level_3": 60}, "average_wage_2021": "100000"},
                groups={"chronic": terms(deductible="50.00", ratio=60, limit="2000.00", tally="group"),
                        "special": terms(deductible="0.00", ratio=90, limit="50000.00")})
    member = make_member()
    world.register(member, "C-HYP", group="chronic")
    world.register(member, "S-CANCER", group="special")
    chronic_visit = world.client.post("/api/v1/settlements", body(member, "C-HYP", "C-1", drugs(10)), format="json").json()
    special_visit = world.client.post("/api/v1/settlements", body(member, "S-CANCER", "C-2", drugs(10)), format="json").json()
    # chronic: (100 − 50) × 60% = 30.00; special: 100 × 90% = 90.00.
    assert (chronic_visit["deductible"], chronic_visit["fund"], chronic_visit["year"]["tally"]) == ("50.00", "30.00", "group:chronic")
    assert (special_visit["deductible"], special_visit["fund"], special_visit["year"]["tally"]) == ("0.00", "90.00", "disease:S-CANCER")
    assert special_visit["year"]["fund_paid"] == "90.00"  # the chronic tally is not the special one
    ordinary = world.client.post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": "2023-03-01", "external_ref": "P-1", "items": drugs(10)}, format="json")
    assert ordinary.status_code == 201, ordinary.json()
    assert Decimal(ordinary.json()["year"]["fund_paid"]) == Decimal(ordinary.json()["fund"])  # the ordinary year holds only its own


# --- Jinan (七): the second payment counts chronic and imported inpatient burden ----------------


def test_jinan_second_payment_counts_chronic_and_imported_inpatient_burden(world, tmp_path):
    """Jinan (七): the personal burden of chronic/special, ordinary pooling and inpatient costs
    is counted together; above the threshold (8000.00 in 2023) the large-amount subsidy pays."""
    import io

    from django.core.management import call_command

    from claims.chosen_institutions import chosen_institution_register
    from tests.imports.helpers import write_csv

    world.setup("jinan", pooling={"deductible_annual": "200.00", "large_expense_subsidy_ratio": 90, "chosen_max_count": 2},
                groups={"special": terms(ratio=50, limit="10000.00")})
    member = make_member()
    world.register(member, "S1")
    # Jinan (四) 2023: the ordinary visit below is at the member's chosen institution.
    chosen_institution_register(user=None, member=member, provider=world.hospital, valid_from=date(2023, 1, 1))
    call_command("import_inpatient_totals", str(write_csv(tmp_path / "in.csv", [
        ["id_number", "year", "compliant_burden", "fund_paid"], [member.id_number, "2023", "7000.00", "21000.00"]])),
        stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    response = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(300)), format="json")
    data = response.json()
    assert response.status_code == 201, data
    # 3000.00: fund 1500.00; compliant burden 1500.00 → 7000 + 1500 passes 8000 by 500.00,
    # subsidy 500 × 90% = 450.00; the member pays 3000 − 1500 − 450 = 1050.00.
    assert (data["fund"], data["large_expense_subsidy"], data["personal_burden"]) == ("1500.00", "450.00", "1050.00")
    year = MemberYear.objects.get(member=member, year=2023)
    assert (year.large_expense_burden, year.large_expense_subsidy_paid) == (Decimal("1500.00"), Decimal("450.00"))
    # An ordinary visit after it: already above the threshold, its whole compliant burden is
    # subsidised (deductible 100.00 of 200.00 paid by the member → 90.00 back).
    ordinary = world.client.post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": "2023-03-02", "external_ref": "P-1", "items": drugs(10)}, format="json").json()
    assert (ordinary["fund"], ordinary["large_expense_subsidy"]) == ("0.00", "90.00")
    # Reversing the chronic visit takes its burden and subsidy back from the year.
    claim = Claim.objects.get(external_ref="C-1")
    assert world.client.post(f"/api/v1/settlements/{claim.pk}/reverse", {}, format="json").status_code == 200
    year.refresh_from_db()
    assert (year.large_expense_burden, year.large_expense_subsidy_paid) == (Decimal("100.00"), Decimal("90.00"))


def test_without_the_import_the_chronic_burden_alone_stays_below_jinans_threshold(world):
    world.setup("jinan", pooling={"deductible_annual": "200.00", "large_expense_subsidy_ratio": 90},
                groups={"special": terms(ratio=50, limit="10000.00")})
    member = make_member()
    world.register(member, "S1")
    data = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(300)), format="json").json()
    assert (data["fund"], data["large_expense_subsidy"], data["personal_burden"]) == ("1500.00", "0.00", "1500.00")


# --- idempotency, account, preview --------------------------------------------------------------


def test_repeat_returns_the_first_response_and_a_different_body_is_a_conflict(world):
    world.setup("zaozhuang", groups={"special": terms(ratio=80)})
    member = make_member()
    world.register(member, "S1")
    first = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(5)), format="json")
    again = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(5)), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    changed = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(6)), format="json")
    assert changed.status_code == 409 and changed.json()["code"] == "external_ref_conflict"
    assert Claim.objects.filter(member=member).count() == 1
    assert ChronicYear.objects.get(member=member).fund_paid == Decimal("40.00")


def test_the_account_may_pay_the_personal_burden_and_a_preview_writes_nothing(world):
    world.setup("zaozhuang", groups={"special": terms(deductible="20.00", ratio=80)})
    member = make_member(balance="25.00")
    world.register(member, "S1")
    preview = world.client.post("/api/v1/settlements/preview", body(member, "S1", "C-1", drugs(10), use_account=True), format="json")
    assert preview.status_code == 200
    nothing_written(member)
    settled = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(10), use_account=True), format="json").json()
    # 100.00: deductible 20.00, fund 64.00, burden 36.00: the account pays 25.00, cash 11.00.
    assert (settled["fund"], settled["account"], settled["cash"], settled["balance_after"]) == ("64.00", "25.00", "11.00", "0.00")
    assert {k: v for k, v in preview.json().items() if k != "warnings"} == {k: v for k, v in settled.items() if k not in ("settlement_id", "warnings")}
    assert PersonalAccount.objects.get(member=member).balance == Decimal("0.00")
    claim = Claim.objects.get(external_ref="C-1")
    world.client.post(f"/api/v1/settlements/{claim.pk}/reverse", {}, format="json")
    assert PersonalAccount.objects.get(member=member).balance == Decimal("25.00")


def test_a_pooling_request_keeps_its_fingerprint_now_that_disease_code_exists():
    """A request stored before disease_code existed hashes as it did (its body had every
    dataclass entry, LATER_FIELDS as null); disease_code counts only when sent."""
    import hashlib

    from claims.services import ItemRequest, SettlementRequest

    request = SettlementRequest(member_id_number="370402199001011234", visit_date=date(2023, 3, 1),
                                items=(ItemRequest(code="A-DRUG", quantity=Decimal("3")),), external_ref="X")
    before = {"member_id_number": "370402199001011234", "visit_date": "2023-03-01", "items": [["A-DRUG", "3", None]],
              "external_ref": "X", "benefit": "outpatient_pooling", "visit_place": "local", "provider_level": None,
              "remote_provider_code": None, "remote_provider_name": None, "prescribed_by_code": None,
              "use_account": None, "payer_id_number": None, "LATER_FIELDS": None}
    assert request.fingerprint() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    chronic_request = SettlementRequest(**{**request.__dict__, "benefit": "chronic_special", "disease_code": "S1"})
    assert chronic_request.fingerprint() != request.fingerprint()


# --- Jinan (七) with the second-payment ratio still open: held as pending, paid by a batch -----


def test_jinan_chronic_settlement_with_the_ratio_open_holds_the_second_payment_until_a_batch_pays_it(world, tmp_path, client):
    """Jinan (七) fixes the threshold (8000.00) but not the second payment's ratio: a chronic
    settlement above the threshold settles the fund's share and holds the burden above the
    threshold as pending, exactly as pooling does; once the ratio is set, one case worker
    proposes the batch, another approves it, and the pending amount is paid once."""
    import io

    from django.core.management import call_command

    from claims.models import SubsidyBatch
    from claims.subsidy_batches import subsidy_batch_approve, subsidy_batch_propose
    from tests.imports.helpers import write_csv

    world.setup("jinan", pooling={"deductible_annual": "200.00"}, groups={"special": terms(ratio=50, limit="10000.00")})
    member = make_member()
    world.register(member, "S1")
    call_command("import_inpatient_totals", str(write_csv(tmp_path / "in.csv", [
        ["id_number", "year", "compliant_burden", "fund_paid"], [member.id_number, "2023", "7000.00", "21000.00"]])),
        stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    response = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(300)), format="json")
    data = response.json()
    assert response.status_code == 201, data
    # 3000.00: fund 1500.00; burden 1500.00 → 7000 + 1500 passes 8000 by 500.00, held pending.
    assert (data["fund"], data["large_expense_subsidy"], data["large_expense_subsidy_pending"], data["personal_burden"]) == (
        "1500.00", "0.00", "500.00", "1500.00")
    claim = Claim.objects.get(external_ref="C-1")
    assert claim.large_expense_pending_base == Decimal("500.00")
    year = MemberYear.objects.get(member=member, year=2023)
    assert (year.large_expense_burden, year.large_expense_subsidy_paid, year.large_expense_pending_base) == (
        Decimal("1500.00"), Decimal("0.00"), Decimal("500.00"))
    benefits = world.client.get(f"/api/v1/members/{member.id_number}/benefits?year=2023").json()
    assert benefits["large_expense_subsidy_pending"] == "500.00"
    client.force_login(UserFactory(roles=["经办"]))
    page = client.get(f"/admin/members/member/{member.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "large_expense_pending_base" in page and "500.00" in page

    pooling = chronic.policy_version_on(date(2023, 3, 1))  # the pooling version in force on the visit
    assert claim.chronic.large_expense_policy_version == pooling
    with pytest.raises(DomainError) as refused:
        subsidy_batch_propose(user=UserFactory(roles=["经办"]), policy_version_id=pooling.pk)
    assert refused.value.code == "policy_parameter_missing"  # the ratio is still open
    pooling.parameters["large_expense_subsidy"]["ratio_percent"] = 90
    pooling.save()
    proposer, approver = UserFactory(roles=["经办"]), UserFactory(roles=["经办"])
    batch = subsidy_batch_propose(user=proposer, policy_version_id=pooling.pk)
    assert (batch.payment_count, batch.total) == (1, Decimal("450.00"))  # 500.00 × 90%
    subsidy_batch_approve(user=approver, batch_id=batch.pk)
    year.refresh_from_db()
    assert (year.large_expense_subsidy_paid, year.large_expense_pending_base) == (Decimal("450.00"), Decimal("0.00"))
    assert SubsidyBatch.objects.get().status == SubsidyBatch.Status.APPROVED
    with pytest.raises(DomainError) as refused:
        subsidy_batch_propose(user=proposer, policy_version_id=pooling.pk)  # paid once: nothing pending now
    assert refused.value.code == "nothing_pending"


# --- Ziyang 第十一条: chronic payments count toward the pooled fund's yearly maximum ---------------


def test_chronic_fund_counts_toward_the_pooled_funds_yearly_maximum_article_11(world):
    """Ziyang 第十一条: 职工门诊自然年度支付总金额计入职工医保年度统筹基金最高支付限额; by 第十二条 the
    outpatient benefits are ordinary pooling, 两病 and 门诊慢特病 — chronic payments count too, and a
    chronic settlement never passes the maximum either."""
    from claims.models import PolicyVersion

    world.setup("ziyang", groups={"special": terms(ratio=80, limit="10000.00")})
    pooling = PolicyVersion.objects.get(kind="outpatient_pooling")
    pooling.parameters["annual_fund_maximum"] = "100000.00"  # the agency's number
    pooling.save()
    member = make_member()
    world.register(member, "S1")
    MemberYear.objects.create(member=member, year=2023, inpatient_fund_paid="99000.00")
    first = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(100)), format="json").json()
    assert first["fund"] == "800.00"  # 1000 × 80%, within the 1000 left
    year = MemberYear.objects.get(member=member, year=2023)
    assert year.chronic_fund_paid == Decimal("800.00")
    benefits = world.client.get(f"/api/v1/members/{member.id_number}/benefits?year=2023").json()
    assert benefits["annual_fund_maximum_remaining"] == "200.00"
    second = world.client.post("/api/v1/settlements", body(member, "S1", "C-2", drugs(100), visit_date="2023-03-02"), format="json").json()
    assert (second["fund"], second["cash"]) == ("200.00", "800.00")  # 800 limited to the 200 left
    ordinary = world.client.post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": "2023-03-03", "external_ref": "P-1", "items": drugs(100)},
        format="json").json()
    assert ordinary["fund"] == "0.00"  # the maximum is reached by chronic payments
    # Reversing the first chronic visit gives its 800.00 back to the maximum.
    claim = Claim.objects.get(external_ref="C-1")
    assert world.client.post(f"/api/v1/settlements/{claim.pk}/reverse", {}, format="json").status_code == 200
    year.refresh_from_db()
    assert year.chronic_fund_paid == Decimal("200.00")
    benefits = world.client.get(f"/api/v1/members/{member.id_number}/benefits?year=2023").json()
    assert benefits["annual_fund_maximum_remaining"] == "800.00"


@pytest.mark.parametrize(("name", "stored"), [("ziyang", True), ("henan", False), ("zaozhuang", None)])
def test_the_chronic_claim_counts_toward_the_fund_maximum_as_the_pooling_version_says(world, name, stored):
    """Ziyang 第十一条: the chronic claim's counts_toward_annual_fund_maximum is the pooling version's
    (in force on the visit date), as a pooling settlement stores it: Ziyang's preset says true,
    Henan's false, Zaozhuang's leaves it unset."""
    world.setup(name, groups={"special": terms(ratio=80, limit="10000.00")})
    member = make_member()
    world.register(member, "S1")
    response = world.client.post("/api/v1/settlements", body(member, "S1", "C-1", drugs(10)), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["fund"] == "80.00"
    claim = Claim.objects.get(external_ref="C-1")
    assert claim.benefit == "chronic_special"
    assert claim.counts_toward_annual_fund_maximum is stored
    ordinary = world.client.post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": "2023-03-01", "external_ref": "P-1", "items": drugs(1)},
        format="json")
    assert ordinary.status_code == 201, ordinary.json()
    assert Claim.objects.get(external_ref="P-1").counts_toward_annual_fund_maximum is stored  # the same truth
