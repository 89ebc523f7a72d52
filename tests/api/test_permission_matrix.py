"""The API permission matrix: every endpoint under /api/, every method, every kind of caller,
allowed or refused as intended; a provider never reaches another provider's data.

The endpoints come from the URL resolver (and the generated OpenAPI schema must agree with
it), so an endpoint added later without a row in MATRIX fails
`test_every_api_endpoint_has_an_expected_outcome`.

Callers authenticate as real ones do: providers' systems and the cross-region platform with
`Authorization: Token <key>`; the agency's staff with their admin session (the browsable
docs at /api/docs/ and the admin's pages call the API that way), CSRF enforced as DRF does
for a session.

Provider A owns the objects in the paths (its settlement, its reconciliation, its code).
Provider B on A's objects:
- reverse A's settlement: 403 `forbidden`. The id is the settlement's own number, which
  the reversal service looks up first; the answer says who may reverse it and gives away
  nothing of the settlement (no amounts, no member), and CONTRACT.md's providers' systems
  act on the ids they were given, so "it exists, it is not yours" is the useful answer.
- read A's reconciliation: 404 `reconciliation_not_found`. The query is scoped to the
  caller's own provider, so another provider's reconciliations do not exist for it.
- read A's registry record by code: 403 `permission_denied` for every provider user, its
  own code included (that endpoint is the agency's; a provider reads itself at
  /providers/me), refused before any lookup, so existence is not revealed either.
- the member's account (the one list of rows several providers write into): B sees the
  amounts, never A's transaction numbers or anyone's notes (reference and memo are empty).
"""

import json
import logging
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from claims.models import CatalogItem, Claim, Reconciliation
from claims.policy_services import policy_load
from claims.services import SettlementRequest, claim_settle
from claims.statements.services import reconciliation_submit
from core.roles import Role
from members.models import LedgerEntry
from pharmacies.models import ProviderStaff
from tests.claims.conftest import make_member, preset
from tests.factories import ProviderFactory, UserFactory, api_key

pytestmark = pytest.mark.django_db

# ---------------------------------------------------------------------------------------
# The matrix. Columns: anonymous; the agency's four groups (session); provider A's and
# provider B's staff (token); the cross-region platform (token); provider A's user made
# inactive (its token kept); an active user in no group (with a token an administrator gave).
# Cells: the HTTP status. 2xx is allowed; 400 would be allowed-but-invalid; 401 is "who are
# you", 403 "not you", 404 "not yours / not there" (see the module docstring).

ACTORS = ["anon", "cw", "au", "fi", "sa", "prov_a", "prov_b", "platform", "inactive", "no_group"]

MATRIX_TABLE = """
endpoint                                              anon cw  au  fi  sa  prov_a prov_b platform inactive no_group
GET  /api/schema/                                     200  200 200 200 200 200    200    200      200      200
GET  /api/docs/                                       200  200 200 200 200 200    200    200      200      200
GET  /api/v1/members/{id_number}                      401  200 200 200 200 200    200    200      401      403
GET  /api/v1/members/{id_number}/account              401  200 200 200 200 200    200    200      401      403
GET  /api/v1/members/{id_number}/benefits             401  200 200 200 200 200    200    200      401      403
GET  /api/v1/members/{id_number}/registrations        401  200 200 200 200 200    200    200      401      403
GET  /api/v1/providers/me                             401  403 403 403 403 200    200    404      401      403
GET  /api/v1/providers/{code}                         401  200 200 200 200 403    403    403      401      403
POST /api/v1/settlements/preview                      401  403 403 403 403 200    200    200      401      403
POST /api/v1/settlements                              401  403 403 403 403 201    201    201      401      403
POST /api/v1/settlements/{settlement_id}/reverse      401  200 403 403 403 200    403    403      401      403
POST /api/v1/reconciliations                          401  403 403 403 403 201    201    201      401      403
GET  /api/v1/reconciliations/{reconciliation_id}      401  403 403 403 403 200    404    404      401      403
POST /api/nhsa/                                       401  401 401 401 401 200    401    403      401      403
"""
# Why some cells are what they are:
# - schema and docs are public documentation and read no credentials (SPECTACULAR_SETTINGS
#   SERVE_AUTHENTICATION = []): a dead token there was refused by the HTML/YAML renderer,
#   outside the one error shape, which is what this matrix first found.
# - reverse: the agency reverses with claims.change_claim, as the admin's reverse action does:
#   经办 only. 稽核 and 系统管理 read claims; 财务 approves and pays statements but does not undo a
#   settlement (Ziyang 第十九条: business and finance are kept apart).
# - providers/me for the platform: it has no registry record (404, not 403: it may call it).
# - reconciliations are a designated provider's own, or the cross-region platform's for one of
#   its clearings (省内/省外异地就医清算, `clearing` in the body); never another's (404).
# - the national interface (gateway) takes a provider's token only, never a session (401 for
#   staff); the envelope names provider A, so B's token is not A's (401, as nhsa.md has it);
#   the platform is no designated provider (403 provider_only).


def _parse(table: str) -> dict[tuple[str, str], dict[str, int]]:
    lines = [line.split() for line in table.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert header[1:] == ACTORS, header
    return {(row[0], row[1]): dict(zip(ACTORS, map(int, row[2:]), strict=True)) for row in rows}


MATRIX = _parse(MATRIX_TABLE)


# ---------------------------------------------------------------------------------------
# Enumerating the endpoints


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def resolver_endpoints() -> set[tuple[str, str]]:
    found = set()
    for route, callback in _walk(get_resolver().url_patterns):
        if not route.startswith("api/"):
            continue
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        assert view is not None, f"{route}: a function view under /api/ — give it a class and a matrix row"
        for method in view.http_method_names:
            if method in ("options", "head", "trace") or not hasattr(view, method):
                continue
            found.add((method.upper(), _openapi_path(route)))
    return found


def schema_endpoints() -> set[tuple[str, str]]:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return {(method.upper(), path) for path, item in paths.items() for method in item if method != "parameters"}


def test_every_api_endpoint_has_an_expected_outcome():
    endpoints = resolver_endpoints()
    assert schema_endpoints() <= endpoints, "the OpenAPI schema names an endpoint the resolver does not serve"
    missing = sorted(endpoints - MATRIX.keys())
    assert not missing, "\n".join(f"endpoint {method} {path} has no expected outcome in MATRIX" for method, path in missing)
    stale = sorted(MATRIX.keys() - endpoints)
    assert not stale, f"MATRIX rows for endpoints that no longer exist: {stale}"


def test_the_enumeration_sees_a_new_endpoint(settings):
    """The guard above can fail: an endpoint added under /api/ is found, and has no row."""
    import types

    from django.urls import path

    import config.urls
    from pharmacies.api import ProviderSelfView

    urlconf = types.ModuleType("urls_with_a_new_endpoint")
    urlconf.urlpatterns = [*config.urls.urlpatterns, path("api/v1/brand-new", ProviderSelfView.as_view())]
    settings.ROOT_URLCONF = urlconf
    assert sorted(resolver_endpoints() - MATRIX.keys()) == [("GET", "/api/v1/brand-new")]


# ---------------------------------------------------------------------------------------
# The world: provider A with a settlement and a reconciliation, provider B, the platform,
# the agency's staff, an inactive user and a user in no group.

CSRF_SECRET = "a" * 32


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return client


def _session_client(user) -> APIClient:
    """A logged-in browser: session cookie plus the CSRF cookie and header it sends back."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
    client.credentials(HTTP_X_CSRFTOKEN=CSRF_SECRET)
    return client


def _provider_user(provider, *, platform=False):
    user = UserFactory(roles=[Role.PROVIDER])
    ProviderStaff.objects.create(user=user, provider=None if platform else provider, cross_region_platform=platform)
    return user


def _settle(user, external_ref, member, **overrides):
    data = {
        "member_id_number": member.id_number, "visit_date": "2023-02-01", "external_ref": external_ref,
        "visit_place": "local", "use_account": True, "items": [{"code": "A-DRUG", "quantity": "3"}],
        **overrides,
    }
    from claims.serializers import SettlementInput

    serializer = SettlementInput(data=data)
    serializer.is_valid(raise_exception=True)
    body, created = claim_settle(user=user, request=SettlementRequest.from_data(serializer.validated_data))
    assert created
    return body


@pytest.fixture
def world(db, settings):
    settings.REGION = "zaozhuang"
    policy_load(data=preset("zaozhuang"))
    CatalogItem.objects.create(code="A-DRUG", name="甲类药", kind="drug", item_class="A", list_price=Decimal("10.00"))
    provider_a = ProviderFactory(kind="institution", level="level_1")
    provider_b = ProviderFactory(kind="institution", level="level_1")
    users = {
        "cw": UserFactory(roles=[Role.CASE_WORKER]), "au": UserFactory(roles=[Role.AUDITOR]),
        "fi": UserFactory(roles=[Role.FINANCE]), "sa": UserFactory(roles=[Role.ADMINISTRATOR]),
        "prov_a": _provider_user(provider_a), "prov_b": _provider_user(provider_b),
        "platform": _provider_user(None, platform=True),
        "inactive": _provider_user(provider_a), "no_group": UserFactory(),
    }
    clients = {"anon": APIClient()}
    for actor, user in users.items():
        clients[actor] = _session_client(user) if actor in ("cw", "au", "fi", "sa") else _token_client(user)
    users["inactive"].is_active = False
    users["inactive"].save(update_fields=["is_active"])

    member = make_member(balance="500.00")
    a_settlement = _settle(users["prov_a"], "A-SECRET-REF-1", member)
    today = timezone.localdate()
    a_reconciliation = reconciliation_submit(
        provider=provider_a, user=users["prov_a"], period_from=today, period_to=today,
        totals={"count": 1, "total": Decimal("30.00"), "fund": Decimal("0"), "account": Decimal("30.00"),
                "cash": Decimal("0")},
    )
    return {
        "a": provider_a, "b": provider_b, "users": users, "clients": clients, "member": member,
        "a_settlement": a_settlement, "a_reconciliation": a_reconciliation, "today": today,
    }


def _request(world, method, path, actor, n):
    """The request each actor sends: path parameters name provider A's objects; bodies are
    valid for the caller, so a refusal is about who asks, never about what was sent."""
    member = world["member"]
    values = {
        "id_number": member.id_number,
        "code": world["a"].code,
        "reconciliation_id": world["a_reconciliation"].pk,
    }
    if "{settlement_id}" in path:  # a fresh settlement of A for each caller to try to reverse
        values["settlement_id"] = _settle(world["users"]["prov_a"], f"A-REV-{n}", member)["settlement_id"]
    body = None
    if path.startswith("/api/v1/settlements") and "reverse" not in path:
        body = {
            "member_id_number": member.id_number, "visit_date": "2023-03-01", "external_ref": f"{actor}-{n}",
            "visit_place": "local", "use_account": False, "items": [{"code": "A-DRUG", "quantity": "2"}],
        }
        if actor == "platform":
            body.update(visit_place="in_province", provider_level="level_3", remote_provider_code="H32010000001",
                        remote_provider_name="南京某医院")
    elif path.endswith("/reverse"):
        body = {"reason": "matrix"}
    elif path == "/api/nhsa/":
        body = {"infno": "9001", "msgid": f"MATRIX-{actor}-{n}", "mdtrtarea_admvs": "370400", "recer_sys_code": "MBS",
                "infver": "V1.0", "opter_type": "1", "opter": "1", "opter_name": "matrix", "inf_time": "2026-12-03 09:00:00",
                "fixmedins_code": world["a"].code, "fixmedins_name": world["a"].name, "input": {"signIn": {"opter_no": "1"}}}
    elif path == "/api/v1/reconciliations":
        today = world["today"].isoformat()
        body = {"period_from": today, "period_to": today, "count": 0, "total": "0.00", "fund": "0.00",
                "account": "0.00", "cash": "0.00"}
        if actor == "platform":
            body["clearing"] = "in_province"
    return path.format(**values), body


def _written():
    return (Claim.objects.count(), Claim.objects.filter(status=Claim.Status.REVERSED).count(),
            Reconciliation.objects.count(), LedgerEntry.objects.count())


def assert_error_shape(response):
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["details"], dict) and body["message"] and body["code"]


ROWS = sorted(MATRIX)


@pytest.mark.parametrize(("method", "path"), ROWS, ids=[f"{m} {p}" for m, p in ROWS])
def test_each_caller_is_allowed_or_refused_as_the_matrix_says(world, method, path):
    expected, got = MATRIX[(method, path)], {}
    for n, actor in enumerate(ACTORS):
        url, body = _request(world, method, path, actor, n)
        before = _written()
        client = world["clients"][actor]
        if method == "GET":
            response = client.get(url)
        else:
            response = client.generic(method, url, data=json.dumps(body),
                                      content_type="application/json")
        got[actor] = response.status_code
        if response.status_code >= 400:
            assert_error_shape(response)
            assert _written() == before, f"{actor}: refused with {response.status_code} but something was written"
    mismatches = {actor: f"expected {expected[actor]}, got {got[actor]}" for actor in ACTORS if got[actor] != expected[actor]}
    assert not mismatches, f"{method} {path}: {mismatches}"


# ---------------------------------------------------------------------------------------
# Provider B on provider A's data, beyond the status code


def test_provider_b_cannot_reverse_a_settlement_of_a_and_nothing_changes(world):
    claim_id = world["a_settlement"]["settlement_id"]
    before = _written()
    response = world["clients"]["prov_b"].post(f"/api/v1/settlements/{claim_id}/reverse", {}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert response.json()["details"] == {"settlement_id": claim_id}
    assert _written() == before
    assert Claim.objects.get(pk=claim_id).status == Claim.Status.SETTLED


def test_provider_b_does_not_see_a_reconciliation_of_a(world):
    reconciliation = world["a_reconciliation"]
    response = world["clients"]["prov_b"].get(f"/api/v1/reconciliations/{reconciliation.pk}")
    assert response.status_code == 404
    assert response.json() == {
        "code": "reconciliation_not_found", "message": response.json()["message"],
        "details": {"reconciliation_id": reconciliation.pk},
    }
    # A itself reads it, with its figures.
    own = world["clients"]["prov_a"].get(f"/api/v1/reconciliations/{reconciliation.pk}")
    assert own.status_code == 200 and own.json()["agency"]["total"] == "30.00"


def test_a_reconciliation_of_b_listing_a_settlement_of_a_shows_nothing_of_a(world):
    a = world["a_settlement"]
    today = world["today"].isoformat()
    response = world["clients"]["prov_b"].post("/api/v1/reconciliations", {
        "period_from": today, "period_to": today, "count": 1, "total": "1.00", "fund": "0.00", "account": "0.00",
        "cash": "1.00",
        "settlements": [{"settlement_id": a["settlement_id"], "total": "1.00", "fund": "0.00", "account": "0.00", "cash": "1.00"}],
    }, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["agency"] == {"count": "0", "total": "0.00", "fund": "0.00", "account": "0.00", "cash": "0.00"}
    # A's settlement is unknown on the agency's side of B's books; B's own figures come back.
    assert body["differences"]["missing_on_agency_side"] == [
        {"settlement_id": a["settlement_id"], "external_ref": None, "total": "1.00", "fund": "0.00",
         "account": "0.00", "cash": "1.00"}
    ]
    assert body["differences"]["missing_on_provider_side"] == body["differences"]["different_amounts"] == []
    assert "A-SECRET-REF-1" not in response.content.decode()
    assert Reconciliation.objects.get(pk=body["reconciliation_id"]).provider == world["b"]


def test_the_account_list_shows_provider_b_no_row_detail_of_provider_a(world):
    """The member's ledger holds A's payment; B (registering the member) sees the amounts,
    never A's code and transaction number, which the agency still sees."""
    url = f"/api/v1/members/{world['member'].id_number}/account"
    seen_by_b = world["clients"]["prov_b"].get(url)
    assert seen_by_b.status_code == 200
    entries = seen_by_b.json()["entries"]
    assert [(e["kind"], e["amount"]) for e in entries] == [("settlement_payment", "-30.00"), ("opening_balance", "500.00")]
    assert all(e["memo"] == "" and e["reference"] == "" for e in entries)
    text = seen_by_b.content.decode()
    assert "A-SECRET-REF-1" not in text and world["a"].code not in text
    # The platform is a provider caller too; the agency sees the detail.
    assert "A-SECRET-REF-1" not in world["clients"]["platform"].get(url).content.decode()
    seen_by_agency = world["clients"]["au"].get(url).json()["entries"]
    assert seen_by_agency[0]["memo"] == f"{world['a'].code}/A-SECRET-REF-1"


def test_providers_me_answers_each_provider_with_its_own_record(world):
    for actor, provider in (("prov_a", world["a"]), ("prov_b", world["b"])):
        body = world["clients"][actor].get("/api/v1/providers/me").json()
        assert (body["code"], body["name"]) == (provider.code, provider.name)
    refused = world["clients"]["prov_b"].get(f"/api/v1/providers/{world['a'].code}")
    assert refused.status_code == 403 and world["a"].name not in refused.content.decode()


@pytest.mark.parametrize("actor", ["au", "fi"])
def test_an_auditor_or_finance_cannot_reverse_but_a_case_worker_can(world, actor):
    """稽核 reads claims and reviews flags, 财务 approves statements; undoing a payment is
    经办's act, as in the admin's reverse action (claims.change_claim). Ziyang 第十九条."""
    claim_id = world["a_settlement"]["settlement_id"]
    refused = world["clients"][actor].post(f"/api/v1/settlements/{claim_id}/reverse", {}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert Claim.objects.get(pk=claim_id).status == Claim.Status.SETTLED
    done = world["clients"]["cw"].post(f"/api/v1/settlements/{claim_id}/reverse", {"reason": "经办撤销"}, format="json")
    assert done.status_code == 200 and done.json()["account_refund"] == "30.00"
    claim = Claim.objects.get(pk=claim_id)
    assert (claim.status, claim.reversed_by) == (Claim.Status.REVERSED, world["users"]["cw"])


def test_a_session_post_without_the_csrf_token_is_refused(world):
    """The agency's session reaches the API, but not from another site's form (CSRF)."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world["users"]["cw"])
    claim_id = world["a_settlement"]["settlement_id"]
    response = client.post(f"/api/v1/settlements/{claim_id}/reverse", {}, format="json")
    assert response.status_code == 403
    assert_error_shape(response)
    assert Claim.objects.get(pk=claim_id).status == Claim.Status.SETTLED


def test_permission_refusals_are_logged_with_who_and_where(world, caplog):
    claim_id = world["a_settlement"]["settlement_id"]
    with caplog.at_level(logging.WARNING, logger="gongji.security"):
        world["clients"]["prov_b"].post(f"/api/v1/settlements/{claim_id}/reverse", {}, format="json")
        world["clients"]["anon"].get("/api/v1/providers/me")
    refusals = [r.getMessage() for r in caplog.records if r.name == "gongji.security" and "permission refused" in r.getMessage()]
    assert refusals == [
        f"permission refused status=403 method=POST path=/api/v1/settlements/{claim_id}/reverse user={world['users']['prov_b'].pk}",
        "permission refused status=401 method=GET path=/api/v1/providers/me user=None",
    ]
