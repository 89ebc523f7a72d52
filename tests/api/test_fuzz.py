"""Property-based fuzzing of the providers' API from its own OpenAPI schema (schemathesis):
whatever a provider's system sends, the answer is never a 5xx, and every error has the
contract's shape {"code", "message", "details"}."""

import json
from urllib.parse import urlencode

import pytest
import schemathesis
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

from core.roles import Role
from tests.factories import ProviderFactory, ProviderStaffFactory, UserFactory, api_key

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


def _encode(body) -> bytes | str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body
    return json.dumps(body, default=str)


@pytest.fixture
def provider_token(db):
    staff = ProviderStaffFactory(provider=ProviderFactory(), user=UserFactory(roles=[Role.PROVIDER]))
    return api_key(staff.user)


@schema.include(path_regex="^/api/v1/").parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_no_input_makes_the_api_fail_and_every_error_has_the_contract_shape(case, provider_token):
    client = Client(raise_request_exception=False)
    headers = {str(k): str(v) for k, v in (case.headers or {}).items() if str(k).lower() != "authorization"}
    body = case.body if case.body is not None and not isinstance(case.body, schemathesis.core.NotSet) else None
    response = client.generic(
        case.method.upper(),
        case.formatted_path,
        data=_encode(body),
        content_type="application/json",
        QUERY_STRING=urlencode(case.query or {}, doseq=True),
        HTTP_AUTHORIZATION=f"Token {provider_token}",
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
    )
    assert response.status_code < 500, (case.method, case.formatted_path, body, response.content[:500])
    if response.status_code >= 400:
        payload = response.json()
        assert set(payload) == {"code", "message", "details"}, payload
        assert isinstance(payload["details"], dict)


# --- the national-interface gateway (POST /api/nhsa/) -------------------------------------

SERVED_INFNOS = ["9001", "1101", "2201", "2202", "2203", "2204", "2205", "2206", "2207", "2208",
                 "2101", "2102", "2103", "2601", "3201", "5301"]


@pytest.fixture
def gateway_caller(db):
    from gateway.models import SignIn

    provider = ProviderFactory()
    staff = ProviderStaffFactory(provider=provider, user=UserFactory(roles=[Role.PROVIDER]))
    sign_in = SignIn.objects.create(provider=provider, sign_no="FUZZ-SIGN-NO", day=timezone.localdate(), user=staff.user)
    return provider, api_key(staff.user), sign_in.sign_no


@schema.include(path_regex="^/api/nhsa/").parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_no_message_makes_the_gateway_fail_and_every_answer_is_an_envelope(case, gateway_caller):
    provider, token, sign_no = gateway_caller
    body = case.body if case.body is not None and not isinstance(case.body, schemathesis.core.NotSet) else None
    if isinstance(body, dict):
        # Past authentication into the transactions: the token's provider, today's sign-in, a served infno.
        body = dict(body, fixmedins_code=provider.code, sign_no=sign_no)
        body["infno"] = SERVED_INFNOS[len(json.dumps(body, default=str)) % len(SERVED_INFNOS)]
    response = Client(raise_request_exception=False).post(
        "/api/nhsa/", data=_encode(body), content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code < 500, (body, response.content[:500])
    payload = response.json()
    if response.status_code == 200:
        assert payload["infcode"] in (0, -1), payload
        assert {"infcode", "inf_refmsgid", "refmsg_time", "respond_time", "err_msg", "output"} <= set(payload)
        if payload["infcode"] == -1:
            assert payload["err_msg"]
    else:
        assert set(payload) == {"code", "message", "details"}, payload
