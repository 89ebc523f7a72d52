"""Hostile API bodies: deep nesting, NaN/Infinity, bodies over the limit, bad encodings. Each
answers 4xx in the error shape with a Chinese message, never a 5xx; item errors have one shape
and count positions from 1."""


import pytest
from rest_framework.test import APIClient

from tests.claims.conftest import client_for
from tests.factories import ProviderStaffFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/settlements/preview", "/api/v1/settlements", "/api/v1/reconciliations", "/api/v1/settlements/1/reverse"]


@pytest.fixture
def api():
    client = client_for(ProviderStaffFactory().user)
    client.raise_request_exception = False
    return client


def shape(response, status, code=None):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    payload = response.json()
    assert set(payload) == {"code", "message", "details"}
    if code:
        assert payload["code"] == code, payload
    # The message is Chinese (the default language).
    assert any("\u4e00" <= char <= "\u9fff" for char in payload["message"]), payload["message"]
    return payload


def post(api, url, raw: bytes, content_type="application/json"):
    return api.generic("POST", url, raw, content_type=content_type)


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_a_400(api, url, depth):
    shape(post(api, url, ("[" * depth + "]" * depth).encode()), 400, "parse_error")


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(api, url, constant):
    shape(post(api, url, b'{"items": [{"code": "A", "quantity": %s}]}' % constant.encode()), 400, "parse_error")


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_body_over_the_limit_is_a_413_in_the_error_shape(api, url, settings):
    settings.API_MAX_BODY_BYTES = 1000
    payload = shape(post(api, url, b'{"x": "' + b"a" * 2000 + b'"}'), 413, "request_too_large")
    assert payload["details"] == {"limit": 1000}


def test_a_body_over_djangos_own_limit_without_a_length_is_a_413_too(api, settings):
    """Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE when it reads it (handler400)."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    shape(post(api, "/api/v1/settlements", b'{"x": "' + b"a" * 200 + b'"}'), 413, "request_too_large")


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_body_that_is_not_utf8_is_a_400(api, url):
    shape(post(api, url, '{"member_id_number": "张三"}'.encode("gbk")), 400, "parse_error")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", "sNaN"])
def test_nan_and_infinity_as_strings_are_refused_naming_the_item(api, value):
    payload = shape(api.post("/api/v1/settlements/preview", {
        "member_id_number": "110101199003074514", "visit_date": "2023-02-01",
        "items": [{"code": "A-DRUG", "quantity": "1"}, {"code": "A-DRUG", "quantity": value}],
    }, format="json"), 400, "invalid")
    [problem] = payload["details"]["items"]
    assert {key: problem[key] for key in ("index", "position", "code", "field")} == {
        "index": 1, "position": 2, "code": "A-DRUG", "field": "quantity"}
    assert problem["error"] and problem["message"]


@pytest.mark.parametrize("url", ["/api/v1/nothing-here", "/api/v1/settlements/abc/reverse"])
def test_an_unknown_api_address_is_a_json_404_in_chinese(api, url):
    shape(api.get(url), 404, "not_found")


def test_a_wrong_method_is_the_error_shape(api):
    shape(api.delete("/api/v1/settlements"), 405)


def test_anonymous_api_call_is_the_error_shape(db):
    client = APIClient()
    shape(client.post("/api/v1/settlements", {}, format="json"), 401)


@pytest.mark.parametrize("query", ["year=%C2%B2", "year=99999999999999999999", "year=0", "year=abc"])
def test_a_year_that_is_not_plain_digits_in_range_is_a_400_naming_it(api, query):
    member_url = "/api/v1/members/110101199003074514"
    for url in (f"{member_url}/benefits?{query}", f"{member_url}/account?{query}"):
        payload = shape(api.get(url), 400, "invalid_parameter")
        assert "year" in payload["details"]


@pytest.mark.parametrize("query", ["offset=99999999999999999999", "limit=99999999999999999999", "offset=-1", "limit=%C2%B2"])
def test_pagination_parameters_out_of_range_are_refused(query):
    """No API list is paginated today; the default pagination refuses before any list would
    slice a query with a 30-digit offset."""
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from core.pagination import BoundedLimitOffsetPagination
    from core.params import InvalidParameter

    request = Request(APIRequestFactory().get(f"/api/v1/x?{query}"))
    with pytest.raises(InvalidParameter):
        paginator = BoundedLimitOffsetPagination()
        paginator.get_limit(request), paginator.get_offset(request)
