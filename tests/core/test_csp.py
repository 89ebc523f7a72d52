"""Issue 11: a Content-Security-Policy on every page (django-csp), and no inline script or
event handler anywhere in the project's templates, so the policy needs no 'unsafe-inline' for
scripts. The browser tests (tests/e2e) fail on any "Refused to …" console message."""

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from core.roles import Role
from tests.factories import ProviderStaffFactory, UserFactory

ROOT = Path(settings.BASE_DIR)
HEADER = "Content-Security-Policy"
EXPECTED = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def directives(response) -> dict[str, str]:
    assert HEADER in response, f"{response.wsgi_request.path}: no {HEADER} header"
    parts = [part.strip().split(None, 1) for part in response[HEADER].split(";") if part.strip()]
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def assert_policy(response):
    assert directives(response) == EXPECTED, response.wsgi_request.path


# --- the templates ---------------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def project_templates() -> list[Path]:
    """Every template the project ships: templates/ and every project app's templates/."""
    folders = [ROOT / "templates"]
    for config in apps.get_app_configs():
        path = Path(config.path)
        if path.is_relative_to(ROOT) and ".venv" not in path.parts:
            folders.append(path / "templates")
    return sorted({file for folder in folders if folder.is_dir() for file in folder.rglob("*.html")})


def test_the_template_walk_finds_the_pages_that_had_inline_scripts():
    names = {str(path.relative_to(ROOT)) for path in project_templates()}
    assert "templates/admin/supervision/dashboard.html" in names
    assert "members/templates/members/account_statement.html" in names
    assert "templates/claims/statement_print.html" in names


@pytest.mark.parametrize(
    "text, found",
    [
        ('<script src="/static/a.js"></script>', False),
        ("<script>alert(1)</script>", True),
        ('<script type="module">x()</script>', True),
        ('<button onclick="window.print()">', True),
        ('<body\n onload="x()">', True),
        ('<a href="javascript:x()">', True),
        ('<p class="online">', False),
        ('<button type="button" data-print>', False),
    ],
)
def test_the_template_check_tells_inline_code_from_files(text, found):
    assert bool(INLINE_SCRIPT.search(text) or HANDLER.search(text) or JS_URL.search(text)) is found


def test_no_template_contains_an_inline_script_or_an_event_handler():
    offenders = []
    for path in project_templates():
        text = path.read_text(encoding="utf-8")
        for pattern in (INLINE_SCRIPT, HANDLER, JS_URL):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)[:60]}")
    assert offenders == []


# --- the header on every page ------------------------------------------------------------------


def _plain_routes(resolver=None, prefix="", namespace=""):
    """(name, path) of every URL pattern without parameters, with its namespace."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _plain_routes(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name and not entry.pattern.converters:
            if "(?P<" not in str(entry.pattern) and "<" not in str(entry.pattern):
                yield f"{namespace}{entry.name}", prefix + str(entry.pattern)


PORTAL_PAGES = sorted(name for name, path in _plain_routes() if path.startswith("portal/") and name != "portal:logout")


@pytest.mark.django_db
@pytest.mark.parametrize("name", PORTAL_PAGES)
def test_every_portal_page_carries_the_policy(client, name):
    staff = ProviderStaffFactory()
    client.force_login(staff.user)
    response = client.get(reverse(name))
    assert response.status_code in (200, 302), name
    assert_policy(response)


def test_the_portal_pages_were_found():
    assert {"portal:home", "portal_claims:settlements", "portal_claims:statements", "portal:token"} <= set(PORTAL_PAGES)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/admin/login/", "/portal/login/", "/api/docs/", "/api/docs/?script=", "/api/schema/", "/healthz",
     "/api/v1/no-such-address", "/admin/"],
)
def test_anonymous_pages_and_api_answers_carry_the_policy(client, path):
    assert_policy(client.get(path))


@pytest.mark.django_db
def test_the_dashboard_carries_the_policy_and_has_no_inline_code(client):
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    response = client.get("/admin/supervision/flag/dashboard/")
    assert response.status_code == 200
    assert_policy(response)
    page = response.content.decode()
    # json_script's data block is not code: browsers do not run type="application/json".
    scripts = [tag for tag in INLINE_SCRIPT.findall(page) if 'type="application/json"' not in tag]
    assert scripts == []
    assert "/static/gongji/dashboard.js" in page and 'data-personal-account="个人账户"' in page


@pytest.mark.django_db
def test_swagger_ui_starts_from_a_script_file_not_an_inline_script(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert INLINE_SCRIPT.findall(html) == []
    assert '<script src="/api/docs/?script="></script>' in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    body = script.content.decode()
    assert "SwaggerUIBundle(" in body and '"/api/schema/"' in body
    # No badge fetched from the public validator: img-src is 'self' and the network is closed.
    assert '"validatorUrl": null' in body
