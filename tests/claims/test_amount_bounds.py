"""Documented maxima of one line and one visit, and the settlement window (README, Amounts):
refused with their own codes in the one error shape, on preview and on settle, writing nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from claims.models import Claim
from claims.policy_format import validate_parameters
from tests.factories import ProviderFactory

from .conftest import make_member, preset
from .test_settlement_api import body, written

ENDPOINTS = ("/api/v1/settlements/preview", "/api/v1/settlements")


@pytest.fixture
def zaozhuang(region, catalog):
    region("zaozhuang")


@pytest.fixture
def api(provider_client, db):
    return provider_client(ProviderFactory(kind="institution", level="level_1"))


def refused_everywhere(api, data, code):
    payloads = []
    for endpoint in ENDPOINTS:
        before = written()
        response = api.post(endpoint, data, format="json")
        assert response.status_code == 400, response.json()
        payload = response.json()
        assert set(payload) == {"code", "message", "details"}
        assert payload["code"] == code, payload
        assert written() == before, "a refusal wrote something"
        payloads.append(payload)
    return payloads


@pytest.mark.parametrize(
    ("item", "code", "field"),
    [
        ({"code": "A-DRUG", "quantity": "10001", "unit_price": "0.01"}, "quantity_too_large", "quantity"),
        ({"code": "A-DRUG", "quantity": "99999999", "unit_price": "999999999999.99"}, "quantity_too_large", "quantity"),
        ({"code": "A-DRUG", "quantity": "1", "unit_price": "500000.01"}, "unit_price_too_large", "unit_price"),
        ({"code": "A-DRUG", "quantity": "3", "unit_price": "400000.00"}, "line_amount_too_large", "amount"),
    ],
)
def test_a_line_above_the_documented_maxima_is_refused_on_preview_and_settle(zaozhuang, api, item, code, field):
    member = make_member(balance="100.00")
    data = body(member, items=[{"code": "A-DRUG", "quantity": "1", "unit_price": "1.00"}, item])
    for payload in refused_everywhere(api, data, code):
        problem = payload["details"]["items"][0]
        message = problem.pop("message")
        assert problem == {"index": 1, "position": 2, "code": "A-DRUG", "field": field, "error": code}
        assert message == payload["message"]
        assert "第2项" in message


def test_a_visit_whose_lines_add_up_above_the_visit_maximum_is_refused(zaozhuang, api, settings):
    member = make_member(balance="100.00")
    line = {"code": "A-DRUG", "quantity": "2", "unit_price": "300000.00"}
    payload = refused_everywhere(api, body(member, items=[line, line]), "visit_total_too_large")[0]
    assert payload["details"]["total"] == "1200000.00"
    assert payload["details"]["limit"] == "1000000.00"
    # At the bounds exactly, the visit settles.
    settings.SETTLEMENT_MAX_VISIT_TOTAL = Decimal("1200000.00")
    response = api.post("/api/v1/settlements", body(member, items=[line, line]), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["total"] == "1200000.00"


def test_the_maxima_come_from_settings(zaozhuang, api, settings):
    settings.SETTLEMENT_MAX_QUANTITY = Decimal("5")
    member = make_member(balance="100.00")
    refused_everywhere(api, body(member, items=[{"code": "A-DRUG", "quantity": "6", "unit_price": "1.00"}]), "quantity_too_large")


def test_a_visit_older_than_the_default_window_is_refused_with_its_own_code(zaozhuang, api, settings):
    settings.SETTLEMENT_WINDOW_DAYS = 365
    member = make_member(balance="100.00")
    today = timezone.localdate()
    old = (today - timedelta(days=366)).isoformat()
    payload = refused_everywhere(api, body(member, visit_date=old), "visit_outside_settlement_window")[0]
    assert payload["details"]["field"] == "visit_date"
    assert payload["details"]["window_days"] == 365
    assert payload["details"]["earliest"] == (today - timedelta(days=365)).isoformat()
    recent = api.post("/api/v1/settlements", body(member, visit_date=(today - timedelta(days=365)).isoformat()), format="json")
    assert recent.status_code == 201, recent.json()


def test_the_region_sets_its_own_window_in_the_policy(region, catalog, api, settings):
    settings.SETTLEMENT_WINDOW_DAYS = 0  # the deployment's default is off; the region's policy sets 30 days
    data = preset("zaozhuang")
    for version in data["versions"]:
        version["parameters"]["settlement_window_days"] = 30
    from claims.policy_services import policy_load

    settings.REGION = "zaozhuang"
    policy_load(data=data)
    member = make_member(balance="100.00")
    old = (timezone.localdate() - timedelta(days=31)).isoformat()
    assert refused_everywhere(api, body(member, visit_date=old), "visit_outside_settlement_window")[0]["details"]["window_days"] == 30
    assert Claim.objects.count() == 0


@pytest.mark.parametrize("value", [-1, "30", 1.5, True, 10000])
def test_a_window_that_is_not_a_whole_number_of_days_is_refused_by_the_format(value):
    parameters = preset("zaozhuang")["versions"][0]["parameters"]
    parameters["settlement_window_days"] = value
    assert [path for path, _ in validate_parameters(parameters)] == ["settlement_window_days"]


def test_item_errors_have_one_shape_from_the_serializer_and_from_the_service(region, catalog, provider_client):
    region("zaozhuang")
    member = make_member(balance="10.00")
    api = provider_client(ProviderFactory(kind="institution", level="level_1"))
    base = {"member_id_number": member.id_number, "visit_date": "2023-02-01", "external_ref": "X"}
    by_serializer = api.post("/api/v1/settlements/preview", {**base, "items": [
        {"code": "A-DRUG", "quantity": "1"}, {"code": "A-DRUG", "quantity": "abc"}]}, format="json").json()
    by_service = api.post("/api/v1/settlements/preview", {**base, "items": [
        {"code": "A-DRUG", "quantity": "1"}, {"code": "NOPE", "quantity": "1", "unit_price": "1.00"}]}, format="json").json()
    first, second = by_serializer["details"]["items"][0], by_service["details"]["items"][0]
    assert set(first) == set(second) == {"index", "position", "code", "field", "error", "message"}
    assert (first["index"], first["position"]) == (second["index"], second["position"]) == (1, 2)
