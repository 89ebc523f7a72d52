"""Property-based fuzzing of the providers' API from its own OpenAPI schema (schemathesis):
whatever a provider's system sends, the answer is never a 5xx, and every error has the
contract's shape {"code", "message", "details"}."""

import json
from urllib.parse import urlencode

import pytest
import schemathesis
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from core.roles import Role
from tests.factories import ProviderFactory, ProviderStaffFactory, UserFactory

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
    return Token.objects.create(user=staff.user).key


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
