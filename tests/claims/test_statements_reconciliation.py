"""Reconciliation (对账, like the national 3201/3202) through the API: match when equal, and every
planted difference found on a mismatch; and the suspended provider's refusal."""

from decimal import Decimal

import pytest

from claims.models import Claim, ProviderStatement, Reconciliation
from claims.statements.services import statement_close_month
from tests.factories import ProviderFactory

from .conftest import make_member
from .statement_helpers import MARCH, local, settled_claim


@pytest.fixture
def policy(region, catalog):
    region("zaozhuang")


@pytest.fixture
def provider(db):
    return ProviderFactory()


@pytest.fixture
def api(provider_client, provider):
    return provider_client(provider)


@pytest.fixture
def march_claims(policy, provider):
    """Three valid settlements in March, one reversed (not counted), one of another provider,
    one in April."""
    claims = [
        settled_claim(provider=provider, settled_at=local(2026, 3, 1, 0, 5), fund="10.00", account="1.00",
                      family_account="0.50", cash="2.00", external_ref="R-1"),
        settled_claim(provider=provider, settled_at=local(2026, 3, 15), fund="20.01", cash="0.99", external_ref="R-2"),
        settled_claim(provider=provider, settled_at=local(2026, 3, 31, 23, 59), fund="0.01", account="3.33", external_ref="R-3"),
    ]
    settled_claim(provider=provider, settled_at=local(2026, 3, 10), fund="50.00", reversed_at=local(2026, 3, 11), external_ref="R-X")
    settled_claim(provider=ProviderFactory(), settled_at=local(2026, 3, 10), fund="70.00", external_ref="R-1")
    settled_claim(provider=provider, settled_at=local(2026, 4, 1, 0, 1), fund="80.00", external_ref="R-4")
    return claims


def line(claim, **changes):
    data = {"external_ref": claim.external_ref, "total": str(claim.total), "fund": str(claim.fund),
            "account": str(claim.account + claim.family_account), "cash": str(claim.cash)}
    data.update(changes)
    return data


def totals(claims):
    return {
        "count": len(claims),
        "total": str(sum(c.total for c in claims)),
        "fund": str(sum(c.fund for c in claims)),
        "account": str(sum(c.account + c.family_account for c in claims)),
        "cash": str(sum(c.cash for c in claims)),
    }


def submit(api, claims, lines=None, **overrides):
    body = {"period_from": "2026-03-01", "period_to": "2026-03-31", **totals(claims), **overrides}
    if lines is not None:
        body["settlements"] = lines
    return api.post("/api/v1/reconciliations", body, format="json")


def test_equal_totals_and_list_answer_match(api, march_claims):
    response = submit(api, march_claims, [line(c) for c in march_claims])
    assert response.status_code == 201, response.json()
    payload = response.json()
    assert payload["result"] == "match"
    assert payload["agency"] == {"count": "3", "total": "37.84", "fund": "30.02", "account": "4.83", "cash": "2.99"}
    assert payload["differences"] == {"totals": {}, "missing_on_agency_side": [], "missing_on_provider_side": [],
                                      "different_amounts": []}
    assert Reconciliation.objects.get().result == "match"


def test_equal_totals_without_a_list_answer_match(api, march_claims):
    assert submit(api, march_claims).json()["result"] == "match"


def test_every_planted_difference_is_found(api, march_claims):
    first, second, third = march_claims
    lines = [
        line(first, fund="10.01", total=str(first.total + Decimal("0.01"))),  # different amounts
        # the second is missing on the provider's side
        line(third, external_ref="", settlement_id=third.pk),  # by settlement id: equal
        {"external_ref": "R-9", "total": "5.00", "fund": "5.00", "account": "0.00", "cash": "0.00"},  # unknown to the agency
        line(first, external_ref="R-X", fund="50.00", total="50.00", account="0.00", cash="0.00"),  # reversed: not valid
    ]
    response = submit(api, march_claims, lines, count=4, fund="30.03")

    assert response.status_code == 201
    payload = response.json()
    assert payload["result"] == "mismatch"
    differences = payload["differences"]
    assert differences["totals"] == {"count": {"provider": "4", "agency": "3"},
                                     "fund": {"provider": "30.03", "agency": "30.02"}}
    assert [d["external_ref"] for d in differences["missing_on_agency_side"]] == ["R-9", "R-X"]
    assert differences["missing_on_provider_side"] == [
        {"settlement_id": second.pk, "external_ref": "R-2", "total": "21.00", "fund": "20.01", "account": "0.00", "cash": "0.99"},
    ]
    assert differences["different_amounts"] == [{
        "settlement_id": first.pk, "external_ref": "R-1",
        "fields": {"total": {"provider": "13.51", "agency": "13.50"}, "fund": {"provider": "10.01", "agency": "10.00"}},
    }]
    stored = Reconciliation.objects.get()
    assert (stored.result, stored.differences) == ("mismatch", differences)


def test_a_settlement_listed_twice_is_missing_on_the_agency_side_the_second_time(api, march_claims):
    lines = [line(c) for c in march_claims] + [line(march_claims[0])]
    differences = submit(api, march_claims, lines).json()["differences"]
    assert [d["external_ref"] for d in differences["missing_on_agency_side"]] == ["R-1"]
    assert differences["missing_on_provider_side"] == [] and differences["different_amounts"] == []


def test_another_providers_settlement_id_is_not_found(api, march_claims):
    foreign = Claim.objects.exclude(provider=march_claims[0].provider).get()
    lines = [line(c) for c in march_claims] + [line(foreign, external_ref="", settlement_id=foreign.pk)]
    differences = submit(api, march_claims, lines).json()["differences"]
    assert [d["settlement_id"] for d in differences["missing_on_agency_side"]] == [foreign.pk]


def test_invalid_request_has_the_error_shape_and_writes_nothing(api, march_claims):
    response = api.post("/api/v1/reconciliations", {"period_from": "2026-03-31", "period_to": "2026-03-01",
                                                     **totals(march_claims)}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    response = api.post("/api/v1/reconciliations", {"period_from": "2026-03-01"}, format="json")
    assert response.status_code == 400
    payload = response.json()
    assert set(payload) == {"code", "message", "details"} and "fund" in payload["details"]
    assert not Reconciliation.objects.exists()


def test_only_providers_and_the_platform_for_a_clearing_reconcile(client, platform_client, march_claims):
    """The cross-region platform reconciles its own clearing (省内/省外), never without naming it
    (tests/claims/test_clearing_statements.py)."""
    assert client.post("/api/v1/reconciliations", {}, content_type="application/json").status_code in (401, 403)
    response = submit(platform_client, march_claims)
    assert response.status_code == 400
    assert response.json()["details"]["clearing"] == ""
    assert not Reconciliation.objects.exists()


def test_suspended_providers_settlement_is_refused_and_never_on_a_statement(policy, provider_client):
    """A suspended provider's settlements are refused (issue 5, done-when)."""
    provider = ProviderFactory(status="suspended")
    member = make_member(balance="100.00")
    response = provider_client(provider).post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": "2023-02-01", "external_ref": "S-1",
        "use_account": True, "items": [{"code": "A-DRUG", "quantity": "3", "unit_price": "10.00"}],
    }, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "provider_suspended"
    assert not Claim.objects.exists()
    statement_close_month(month=MARCH)
    assert not ProviderStatement.objects.exists()


def test_a_reconciliation_is_read_back_by_its_provider_only(api, provider_client, march_claims):
    created = submit(api, march_claims).json()
    assert api.get(f"/api/v1/reconciliations/{created['reconciliation_id']}").json() == created
    response = provider_client(ProviderFactory()).get(f"/api/v1/reconciliations/{created['reconciliation_id']}")
    assert response.status_code == 404
    assert response.json()["code"] == "reconciliation_not_found"
