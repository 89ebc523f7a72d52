"""Account-only settlement through the HTTP API (CONTRACT.md "Account-only settlement"; issue 13).

Zaozhuang 第八条, Ziyang 第六条, Yangzhou 二(三)2, Jinan (十五): the personal account pays the
member's and their spouse's, parents' and children's personal burden, and purchases at
designated pharmacies; not health-care products. The pooled fund pays nothing.
"""

from datetime import date
from decimal import Decimal

import pytest

from claims.models import CatalogItem, Claim, ClaimLine, MemberYear
from core.models import AuditEvent
from core.roles import Role
from members.models import FamilyLink, LedgerEntry, Member, PersonalAccount
from members.services import family_link_create, family_link_create_outside
from tests.factories import ProviderFactory, UserFactory, new_id_number

from .conftest import make_member

URL = "/api/v1/settlements"


@pytest.fixture
def case_worker(db):
    return UserFactory(roles=[Role.CASE_WORKER])


@pytest.fixture
def zaozhuang(region, catalog):
    """Zaozhuang pays a pharmacy only on an external prescription (第十三条)."""
    region("zaozhuang")
    CatalogItem.objects.create(code="TONIC", name="保健品", kind="drug", item_class="C", list_price=Decimal("40.00"), account_payable=False)


@pytest.fixture
def pharmacy(db):
    return ProviderFactory(kind="pharmacy")


@pytest.fixture
def api(provider_client, pharmacy):
    return provider_client(pharmacy)


def body(member, **overrides):
    data = {
        "benefit": "personal_account",
        "member_id_number": member if isinstance(member, str) else member.id_number,
        "visit_date": "2023-02-01",
        "external_ref": "POS-1",
        "items": [{"code": "A-DRUG", "quantity": "3", "unit_price": "10.00"}],
    }
    data.update(overrides)
    return data


def written():
    return (
        Claim.objects.count(), ClaimLine.objects.count(), LedgerEntry.objects.count(),
        MemberYear.objects.count(), AuditEvent.objects.filter(action="claim.settle").count(),
        tuple(PersonalAccount.objects.order_by("pk").values_list("balance", flat=True)),
    )


def refused(api, data, code, status=400):
    before = written()
    response = api.post(URL, data, format="json")
    assert response.status_code == status, response.json()
    payload = response.json()
    assert payload["code"] == code, payload
    assert set(payload) == {"code", "message", "details"}
    assert written() == before, "a refusal wrote something"
    return payload


def balance(member) -> Decimal:
    return PersonalAccount.objects.get(member=member).balance


def adds_up(payload):
    total, other = Decimal(payload["total"]), Decimal(payload["other_insurance_paid"])
    assert Decimal(payload["personal_burden"]) == total - other
    assert Decimal(payload["account"]) + Decimal(payload["family_account"]) + Decimal(payload["cash"]) == total - other
    assert (payload["fund"], payload["deductible"], payload["ratio"], payload["year"]) == ("0.00", "0.00", "0.00", None)
    assert (payload["large_expense_subsidy"], payload["large_expense_subsidy_pending"]) == ("0.00", "0.00")


# --- the sale ------------------------------------------------------------------------------


def test_pharmacy_sale_without_prescription_is_paid_by_the_account(zaozhuang, api):
    """Zaozhuang 第八条: the account pays purchases at designated pharmacies; no prescription,
    no pooling, the member's year untouched."""
    member = make_member(balance="100.00")
    response = api.post(URL, body(member), format="json")
    assert response.status_code == 201, response.json()
    payload = response.json()
    assert (payload["total"], payload["account"], payload["family_account"], payload["cash"], payload["balance_after"]) == (
        "30.00", "30.00", "0.00", "0.00", "70.00")
    adds_up(payload)
    assert balance(member) == Decimal("70.00")
    claim = Claim.objects.get()
    assert (claim.benefit, claim.member, claim.payer, claim.fund, claim.policy_version) == ("personal_account", member, None, 0, None)
    entry = LedgerEntry.objects.get(reference=claim.ledger_reference)
    assert (entry.kind, entry.amount) == (LedgerEntry.Kind.SETTLEMENT_PAYMENT, Decimal("-30.00"))
    assert not MemberYear.objects.exists()
    event = AuditEvent.objects.get(action="claim.settle")
    assert event.details["benefit"] == "personal_account"


def test_pharmacy_outside_outpatient_pooling_may_make_account_only_sales(zaozhuang, provider_client):
    member = make_member(balance="100.00")
    outside = provider_client(ProviderFactory(kind="pharmacy", outpatient_pooling=False))
    response = outside.post(URL, body(member), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["account"] == "30.00"
    # The same pharmacy's pooling request is still refused.
    pooling = body(member, benefit="outpatient_pooling", external_ref="POS-2", use_account=True)
    assert outside.post(URL, pooling, format="json").json()["code"] == "provider_not_in_outpatient_pooling"


def test_pooling_request_without_prescription_says_prescription_required_and_names_the_account_sale(zaozhuang, api):
    """Zaozhuang 第十三条: pooling at a pharmacy needs the prescribing institution."""
    member = make_member(balance="100.00")
    payload = refused(api, body(member, benefit="outpatient_pooling", use_account=True), "prescription_required")
    assert "personal_account" in payload["message"]


def test_non_payable_item_goes_to_cash_with_its_reason(zaozhuang, api):
    """Zaozhuang 第八条 / Jinan (十五): the account may not pay health-care products."""
    member = make_member(balance="100.00")
    items = [{"code": "A-DRUG", "quantity": "3", "unit_price": "10.00"}, {"code": "TONIC", "quantity": "1"}]
    response = api.post(URL, body(member, items=items), format="json")
    assert response.status_code == 201, response.json()
    payload = response.json()
    assert (payload["total"], payload["account"], payload["cash"], payload["not_account_payable"]) == ("70.00", "30.00", "40.00", "40.00")
    adds_up(payload)
    assert [(line["account_payable"], line["cash_reason"]) for line in payload["lines"]] == [(True, None), (False, "not_account_payable")]
    assert {"rule": "not_account_payable", "item": 1} == {key: payload["warnings"][-1][key] for key in ("rule", "item")}
    assert "TONIC" in payload["warnings"][-1]["message"]
    assert balance(member) == Decimal("70.00")
    assert Claim.objects.get().not_account_payable == Decimal("40.00")


def test_only_non_payable_items_is_refused_as_account_empty(zaozhuang, api):
    member = make_member(balance="100.00")
    payload = refused(api, body(member, items=[{"code": "TONIC", "quantity": "1"}]), "account_empty")
    assert payload["details"]["reason"] == "nothing_payable"


def test_balance_smaller_than_the_bill_pays_the_balance_and_cash_the_rest(zaozhuang, api):
    member = make_member(balance="12.34")
    payload = api.post(URL, body(member), format="json").json()
    assert (payload["account"], payload["cash"], payload["balance_after"]) == ("12.34", "17.66", "0.00")
    adds_up(payload)
    assert balance(member) == Decimal("0.00")
    # Now empty: the next sale is refused, nothing written.
    assert refused(api, body(member, external_ref="POS-2"), "account_empty")["details"]["reason"] == "no_balance"


def test_preview_computes_and_writes_nothing(zaozhuang, api):
    member = make_member(balance="100.00")
    before = written()
    response = api.post(URL + "/preview", body(member), format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["account"], response.json()["balance_after"]) == ("30.00", "70.00")
    assert "settlement_id" not in response.json()
    assert written() == before


# --- relatives (家庭共济) -----------------------------------------------------------------


def test_registered_relative_is_paid_from_the_linked_members_account(zaozhuang, api, case_worker):
    """Ziyang 第六条: the account pays the spouse's, parents' and children's burden."""
    payer = make_member(balance="100.00")
    child = make_member(scheme="pooling_only", born=date(2010, 3, 1))
    family_link_create(member=payer, relative=child, relation=FamilyLink.Relation.CHILD, user=case_worker)
    payload = api.post(URL, body(child, payer_id_number=payer.id_number), format="json").json()
    assert (payload["account"], payload["family_account"], payload["balance_after"]) == ("0.00", "30.00", "70.00")
    claim = Claim.objects.get()
    assert (claim.member, claim.payer) == (child, payer)
    assert LedgerEntry.objects.get(reference=claim.ledger_reference).kind == LedgerEntry.Kind.FAMILY_SHARING_PAYMENT


def test_relative_outside_the_registry_is_paid_from_the_members_account(zaozhuang, api, case_worker):
    """Yangzhou 二(三)2: a parent insured elsewhere (or not at all) is paid from the account."""
    payer = make_member(balance="100.00")
    mother_id = new_id_number(date(1950, 2, 3))
    link = family_link_create_outside(member=payer, relative_id_number=mother_id, relative_name="王桂兰", relation="parent", user=case_worker)
    response = api.post(URL, body(mother_id, payer_id_number=payer.id_number), format="json")
    assert response.status_code == 201, response.json()
    payload = response.json()
    assert (payload["account"], payload["family_account"], payload["cash"], payload["balance_after"]) == ("0.00", "30.00", "0.00", "70.00")
    claim = Claim.objects.get()
    assert (claim.member, claim.payer, claim.relative_link, claim.treated_id_number, claim.treated_name) == (
        payer, payer, link, mother_id, "王桂兰")
    assert not Member.objects.filter(id_number=mother_id).exists()
    assert balance(payer) == Decimal("70.00")


def test_relative_whose_own_insurance_paid_part(zaozhuang, api, case_worker):
    """Jinan (十五): the account pays the relative's personal burden, after their own
    (resident) insurance settled first: at most total − other_insurance_paid."""
    payer = make_member(balance="100.00")
    father_id = new_id_number(date(1948, 7, 9))
    family_link_create_outside(member=payer, relative_id_number=father_id, relative_name="李建国", relation="parent", user=case_worker)
    items = [{"code": "A-DRUG", "quantity": "10", "unit_price": "10.00"}]
    payload = api.post(URL, body(father_id, payer_id_number=payer.id_number, items=items, other_insurance_paid="55.50"), format="json").json()
    assert (payload["total"], payload["other_insurance_paid"], payload["personal_burden"], payload["family_account"], payload["cash"]) == (
        "100.00", "55.50", "44.50", "44.50", "0.00")
    adds_up(payload)
    assert Claim.objects.get().other_insurance_paid == Decimal("55.50")
    assert balance(payer) == Decimal("55.50")


def test_other_insurance_paying_more_than_the_bill_is_refused(zaozhuang, api):
    member = make_member(balance="100.00")
    payload = refused(api, body(member, other_insurance_paid="30.01"), "other_insurance_exceeds_total")
    assert payload["details"]["field"] == "other_insurance_paid"


def test_payer_who_is_not_linked_is_refused(zaozhuang, api):
    member, stranger = make_member(balance="10.00"), make_member(balance="500.00")
    refused(api, body(member, payer_id_number=stranger.id_number), "payer_not_relative")


def test_unlinked_person_outside_the_registry_is_not_found(zaozhuang, api):
    payer = make_member(balance="500.00")
    refused(api, body(new_id_number(), payer_id_number=payer.id_number), "member_not_found", status=404)
    refused(api, body(new_id_number()), "member_not_found", status=404)


def test_invalid_id_number_is_refused(zaozhuang, api):
    payer = make_member(balance="500.00")
    bad = payer.id_number[:-1] + ("0" if payer.id_number[-1] != "0" else "1")
    assert refused(api, body(payer, payer_id_number=bad), "invalid_id_number")["details"]["field"] == "payer_id_number"


def test_closed_account_is_refused(zaozhuang, api):
    member = make_member(balance="100.00")
    PersonalAccount.objects.filter(member=member).update(status=PersonalAccount.Status.CLOSED)
    refused(api, body(member), "account_closed")


def test_deceased_payer_is_refused(zaozhuang, api, case_worker):
    payer = make_member(balance="100.00")
    relative_id = new_id_number(date(1985, 1, 1))
    family_link_create_outside(member=payer, relative_id_number=relative_id, relative_name="张敏", relation="spouse", user=case_worker)
    Member.objects.filter(pk=payer.pk).update(status=Member.Status.DECEASED, died_on=date(2023, 1, 10))
    assert refused(api, body(relative_id, payer_id_number=payer.id_number), "account_closed")["details"]["field"] == "payer_id_number"


def test_member_without_an_account_is_refused(zaozhuang, api):
    member = make_member(scheme="pooling_only")
    refused(api, body(member), "payer_has_no_account")


def test_unknown_item_is_refused_naming_it(zaozhuang, api):
    member = make_member(balance="100.00")
    payload = refused(api, body(member, items=[{"code": "NOPE", "quantity": "1", "unit_price": "5.00"}]), "unknown_item")
    assert payload["details"]["items"][0] == {
        "index": 0, "position": 1, "code": "NOPE", "field": "code", "error": "unknown_item",
        "message": "第1项（NOPE）不在医保目录中。"}


# --- repeat and reversal -------------------------------------------------------------------


def test_repeat_returns_the_first_response_and_a_different_request_is_a_conflict(zaozhuang, api):
    member = make_member(balance="100.00")
    first = api.post(URL, body(member), format="json")
    again = api.post(URL, body(member), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert balance(member) == Decimal("70.00")
    other = api.post(URL, body(member, items=[{"code": "A-DRUG", "quantity": "4", "unit_price": "10.00"}]), format="json")
    assert (other.status_code, other.json()["code"]) == (409, "external_ref_conflict")
    assert Claim.objects.count() == 1


def test_reversal_refunds_the_paying_account_and_leaves_the_year_alone(zaozhuang, api, case_worker):
    payer = make_member(balance="100.00")
    relative_id = new_id_number(date(2015, 6, 1))
    family_link_create_outside(member=payer, relative_id_number=relative_id, relative_name="小明", relation="child", user=case_worker)
    settled = api.post(URL, body(relative_id, payer_id_number=payer.id_number), format="json").json()
    reversal = api.post(f"{URL}/{settled['settlement_id']}/reverse", {"reason": "退货"}, format="json")
    assert reversal.status_code == 200, reversal.json()
    assert (reversal.json()["family_account_refund"], reversal.json()["balance_after"], reversal.json()["year"]) == ("30.00", "100.00", None)
    assert balance(payer) == Decimal("100.00")
    assert Claim.objects.get().status == Claim.Status.REVERSED
    assert not MemberYear.objects.exists()
    again = api.post(f"{URL}/{settled['settlement_id']}/reverse", {}, format="json")
    assert again.json() == reversal.json()
    assert balance(payer) == Decimal("100.00")


def test_a_request_field_added_later_keeps_stored_fingerprints():
    """SettlementRequest.LATER_FIELDS: a pooling request without other_insurance_paid hashes as
    it did before the field existed (the hash below was computed by the code before it)."""
    from claims.services import ItemRequest, SettlementRequest

    request = SettlementRequest(
        member_id_number="370402198005170011", visit_date=date(2023, 2, 1),
        items=(ItemRequest(code="A-DRUG", quantity=Decimal("3"), unit_price=Decimal("10.00")),), external_ref="X",
    )
    assert request.fingerprint() == OLD_FINGERPRINT
    assert SettlementRequest(**{**request.__dict__, "other_insurance_paid": Decimal("1.00")}).fingerprint() != OLD_FINGERPRINT
OLD_FINGERPRINT = "65bd42da79abcd40177a8937f5a558be6f51bc0b1393856e00727540ddbea9c3"


def test_an_account_only_sale_takes_fewer_queries_than_a_pooling_settlement(zaozhuang, api, django_assert_num_queries):
    """Pinned (pooling takes 15 in tests/claims/test_settlement_api.py): token with provider,
    catalog, member with account, account lock, claim, lines, balance UPDATE … RETURNING,
    ledger entry, audit, the knowledge base's version token, the pooling version in force on the
    visit date (its settlement window applies to every benefit, issue 11), plus SAVEPOINT/RELEASE;
    no year row."""
    member = make_member(balance="500.00")
    api.post(URL, body(member, external_ref="warm-up"), format="json")
    with django_assert_num_queries(13):
        response = api.post(URL, body(member, external_ref="POS-2", visit_date="2023-02-02"), format="json")
    assert response.status_code == 201


def test_the_benchmarks_account_only_body_settles_as_an_account_only_sale(zaozhuang, api):
    """devtools bench_settlement --mix account sends these bodies."""
    from devtools.loadtest import settlement_body

    member = make_member(balance="500.00")
    response = api.post(URL, settlement_body([member.id_number], 0, 0, "BENCH-1", "account"), format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["fund"], response.json()["account"], response.json()["total"]) == ("0.00", "80.00", "80.00")
    assert Claim.objects.get().benefit == Claim.Benefit.PERSONAL_ACCOUNT
