"""Bad input never answers 5xx, as a class: every URL pattern of the project (API, portal,
admin, accounts, health) is opened with hostile path values and query parameters, by an agency
superuser and by a provider's staff, and no answer is a 5xx. Under /api/ every error is the
JSON error shape."""

import re
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from tests.factories import MemberFactory, ProviderStaffFactory, UserFactory

pytestmark = pytest.mark.django_db

# Values a converter's slot receives: huge, non-ASCII digits, NUL, calendar edges.
PATH_VALUES = {
    "int": ["99999999999999999999", "0"],
    "str": ["99999999999999999999", "x%00y", "²", "9999-12-31"],
    "path": ["..%2F..%2Fetc%2Fpasswd", "x%00y"],
    "slug": ["x" * 300],
}
QUERIES = [
    # Not plain decimal digits, out of range, calendar edges, NUL (refused by the guard).
    "year=99999999999999999999&page=99999999999999999999&month=9999-99&p=99999999999999999999&o=999"
    "&limit=99999999999999999999&offset=99999999999999999999&settled_from=9999-12-31&settled_to=0001-01-01",
    "year=%C2%B2&page=%EF%BC%91&month=2026-13&p=abc&date=0000-00-00&e=1&export=csv&q=" + quote("x" * 3000),
]


def _route_urls(patterns, prefix=""):
    for entry in patterns:
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            route = str(pattern)
        else:
            route = str(pattern).lstrip("^").rstrip("$")
            # Literal regex routes only (the admin's catch-all and app-index routes are reached
            # through the literal ones below them).
            if re.search(r"[()\[\]*+?\\]", route.replace("\\.", "")):
                continue
        if isinstance(entry, URLResolver):
            yield from _route_urls(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


SLOT = re.compile(r"<(?:(\w+):)?(\w+)>")


def _filled(route, index, value):
    """`route` with its slot number `index` set to `value` and the other slots their first value."""
    position = iter(range(len(route)))

    def fill(match):
        return value if next(position) == index else PATH_VALUES.get(match.group(1) or "str", PATH_VALUES["str"])[0]

    return "/" + SLOT.sub(fill, route)


def _concrete(route):
    """Every combination is too many: each slot takes each of its values in turn, the other
    slots their first."""
    slots = SLOT.findall(route)
    if not slots:
        return ["/" + route]
    urls = set()
    for index, (converter, _name) in enumerate(slots):
        for value in PATH_VALUES.get(converter or "str", PATH_VALUES["str"]):
            urls.add(_filled(route, index, value))
    return sorted(urls)


ROUTES = sorted({url for route in _route_urls(get_resolver().url_patterns) for url in _concrete(route)})


def test_the_walk_covers_the_api_the_portal_and_the_admin():
    assert any(url.startswith("/api/v1/") for url in ROUTES)
    assert any(url.startswith("/portal/") for url in ROUTES)
    assert any(url.startswith("/admin/members/member/") for url in ROUTES)
    assert len(ROUTES) > 100


@pytest.fixture
def users():
    superuser = UserFactory(is_superuser=True, is_staff=True)
    superuser.save()
    provider_staff = ProviderStaffFactory()
    MemberFactory()
    return {"superuser": superuser, "provider": provider_staff.user}


def _check(client, url, who, failures):
    for query in QUERIES if who != "anonymous" else QUERIES[:1]:
        for method in ("get",):
            response = getattr(client, method)(f"{url}?{query}")
            if response.status_code >= 500:
                failures.append(f"{who} {method.upper()} {url}?{query[:60]} -> {response.status_code}")
            elif url.startswith("/api/") and response.status_code >= 400 and method == "get":
                if not response.get("Content-Type", "").startswith("application/json"):
                    failures.append(f"{who} GET {url}?{query[:60]} -> {response.status_code} not JSON")
                elif set(response.json()) != {"code", "message", "details"}:
                    failures.append(f"{who} GET {url}?{query[:60]} -> {response.status_code} not the error shape")


@pytest.mark.parametrize("who", ["superuser", "provider", "anonymous"])
def test_no_url_answers_5xx_to_hostile_paths_and_parameters(client, users, who):
    client.raise_request_exception = False
    if who != "anonymous":
        client.force_login(users[who])
    failures = []
    for url in ROUTES:
        _check(client, url, who, failures)
    assert not failures, "\n".join(failures[:80])


@pytest.mark.parametrize("url", ["/api/v1/settlements%00", "/portal/%00", "/admin/%00/", "/healthz%00x", "/api/v1/members/%00/benefits"])
def test_a_nul_byte_in_the_path_is_a_400(client, users, url):
    client.raise_request_exception = False
    client.force_login(users["superuser"])
    response = client.get(url)
    assert response.status_code == 400
    if url.startswith("/api/"):
        assert response.json()["code"] == "bad_request"
