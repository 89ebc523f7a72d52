"""No portal page shows an untranslated code (issue 16): every page of the provider portal (all
its URL names, with the demo's own objects: a settlement, a statement and its print, last year's
year-end settlement and its print, a flag, an application and its document, a reconciliation),
rendered in Chinese for each kind of portal user — a hospital's staff, a pharmacy's staff, a
provider whose agreement is suspended, and the cross-region platform's user (no local
provider) — answers as expected and is read as a person
reads it, looking for codes (snake_case values, dotted actions, None, English headings)."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import get_resolver, reverse

from claims.models import Claim, ProviderStatement, YearEndSettlement
from claims.statements.services import reconciliation_submit
from core.roles import Role
from pharmacies import services as pharmacy_services
from pharmacies.models import ApplicationDocument, ProviderStaff
from supervision.models import Flag
from tests.factories import UserFactory

from .scan import codes_in

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 23)
NAMESPACES = ("portal", "portal_claims")
# Not read here: writing views (require_POST: their forms live on the pages below), the logout
# (POST only) and the sign-in page (read signed out, by its own test).
POST_ONLY = {
    "portal:login",
    "portal:logout", "portal:document_upload", "portal:document_delete", "portal:condition_answer",
    "portal:application_submit", "portal:supervision_flag_appeal",
}
# Files, not pages: answered 200 with their own content type, never scanned as HTML.
FILES = {"portal:document", "portal_claims:statement_xlsx", "portal_claims:year_end_xlsx"}
# What a suspended provider may no longer open (pharmacies.portal.portal_view: any_status=False);
# each answers 403 with the page that says why (portal/provider_not_active.html).
CLOSED_WHEN_SUSPENDED = {
    "portal:applications", "portal:application_create", "portal:application", "portal:application_edit",
    "portal:document", "portal_claims:settlements", "portal_claims:settlement",
    "portal_claims:chronic_registrations",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def portal_url_names() -> set[str]:
    """Every named URL of the portal, as the URLconf has it today (a page added later is
    covered, or this test fails naming it)."""
    resolver = get_resolver()
    names = set()
    for namespace in NAMESPACES:
        _prefix, included = resolver.namespace_dict[namespace]
        names |= {f"{namespace}:{key}" for key in included.reverse_dict if isinstance(key, str)}
    return names


@pytest.fixture
def demo(settings, tmp_path):
    from demo.data import load_demo

    settings.REGION = "zaozhuang"
    settings.MEDIA_ROOT = tmp_path / "media"
    load_demo(today=TODAY)


def provider_objects(user) -> dict:
    """The URL arguments for one provider's pages: its own objects, from the demo, plus an
    application (with a document) and a reconciliation made through the services."""
    provider = user.provider_staff.provider
    application = pharmacy_services.application_create(actor=user, name=provider.name, level=provider.level)
    document = pharmacy_services.application_add_document(
        application=application, actor=user, kind=ApplicationDocument.Kind.OTHER,
        upload=SimpleUploadedFile("许可证.pdf", PDF, content_type="application/pdf"),
    )
    statement = ProviderStatement.objects.filter(provider=provider).order_by("-month").first()
    reconciliation = reconciliation_submit(
        provider=provider, user=user, period_from=date(2026, 10, 1), period_to=date(2026, 10, 31),
        totals={"count": 1, "total": Decimal("1.00"), "fund": Decimal("0.00"), "account": Decimal("1.00"),
                "cash": Decimal("0.00")},
    )
    claim = Claim.objects.filter(provider=provider).order_by("-pk").first()
    year_end = YearEndSettlement.objects.filter(provider=provider).order_by("-year").first()
    flag = Flag.objects.filter(provider=provider).exclude(status=Flag.Status.NEW).order_by("-pk").first()
    args = {
        "portal:application": [application.pk], "portal:application_edit": [application.pk],
        "portal:document": [application.pk, document.pk],
        "portal_claims:settlement": [claim.pk] if claim else None,
        "portal_claims:statement": [statement.pk] if statement else None,
        "portal_claims:statement_print": [statement.pk] if statement else None,
        "portal_claims:statement_xlsx": [statement.pk] if statement else None,
        "portal_claims:reconciliation": [reconciliation.pk],
        "portal_claims:year_end": [year_end.pk] if year_end else None,
        "portal_claims:year_end_print": [year_end.pk] if year_end else None,
        "portal_claims:year_end_xlsx": [year_end.pk] if year_end else None,
        "portal:supervision_flag": [flag.pk] if flag else None,
    }
    return args


def urls(args: dict) -> dict[str, str]:
    """name → address for every GET page; a name whose object the provider lacks is left out."""
    found = {}
    for name in sorted(portal_url_names() - POST_ONLY):
        if name in args:
            if args[name] is None:
                continue
            found[name] = reverse(name, args=args[name])
        else:
            found[name] = reverse(name)
    return found


def chinese_client(user=None) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    if user is not None:
        client.force_login(user)
    return client


def scan(client, pages: dict[str, str]) -> tuple[dict, dict]:
    """GET each page: (name → status, address → codes found)."""
    statuses, problems = {}, {}
    for name, url in pages.items():
        response = client.get(url)
        statuses[name] = response.status_code
        if name in FILES and response.status_code == 200:
            assert not response.get("Content-Type", "").startswith("text/html"), url
            continue
        html = response.content.decode()
        assert "<html" in html and 'lang="zh-hans"' in html, f"{url} is not a Chinese page"
        found = codes_in(html)
        if found:
            problems[url] = sorted(set(found))[:5]
    return statuses, problems


def report(problems) -> str:
    return "\n".join(f"{url}: {found}" for url, found in sorted(problems.items()))


@pytest.mark.parametrize("username", ["provider", "pharmacy"])
def test_no_portal_page_shows_a_code_for_an_active_providers_staff(demo, username):
    user = ProviderStaff.objects.select_related("user").get(user__username=username).user
    pages = urls(provider_objects(user))
    if username == "provider":  # the hospital has an object for every page
        assert set(pages) == portal_url_names() - POST_ONLY
    statuses, problems = scan(chinese_client(user), pages)
    assert statuses == {name: 200 for name in pages}
    assert not problems, report(problems)


def test_post_only_portal_addresses_refuse_a_get(demo):
    user = ProviderStaff.objects.get(user__username="provider").user
    args = provider_objects(user)
    client = chinese_client(user)
    flag = args["portal:supervision_flag"][0]
    application = args["portal:application"][0]
    document = args["portal:document"][1]
    for name, arguments in {
        "portal:logout": [], "portal:document_upload": [application],
        "portal:document_delete": [application, document],
        "portal:condition_answer": [application, "inventory_connected"],
        "portal:application_submit": [application], "portal:supervision_flag_appeal": [flag],
    }.items():
        assert client.get(reverse(name, args=arguments)).status_code == 405, name


def test_a_suspended_provider_reads_why_in_chinese_and_keeps_its_statements_and_flags(demo):
    user = ProviderStaff.objects.get(user__username="provider").user
    pages = urls(provider_objects(user))
    pharmacy_services.provider_suspend(
        provider=user.provider_staff.provider, actor=UserFactory(roles=[Role.AUDITOR]), reason="飞行检查发现串换药品")
    statuses, problems = scan(chinese_client(user), pages)
    assert {name for name, status in statuses.items() if status == 403} == CLOSED_WHEN_SUSPENDED
    assert {status for name, status in statuses.items() if name not in CLOSED_WHEN_SUSPENDED} == {200}
    assert not problems, report(problems)
    closed = chinese_client(user).get(reverse("portal_claims:settlements"))
    assert [t.name for t in closed.templates][0] == "portal/provider_not_active.html"
    page = closed.content.decode()
    assert "协议中止或解除期间不可用" in page


def test_the_cross_region_platforms_user_is_told_it_is_not_a_provider_in_chinese(demo):
    user = UserFactory(username="kuaquyu", roles=[Role.PROVIDER])
    ProviderStaff.objects.create(user=user, provider=None, cross_region_platform=True)
    hospital = ProviderStaff.objects.get(user__username="provider").user
    pages = urls(provider_objects(hospital))
    statuses, problems = scan(chinese_client(user), pages)
    assert statuses == {name: 403 for name in pages}
    assert not problems, report(problems)
    page = chinese_client(user).get(reverse("portal:home")).content.decode()
    assert "该账号不属于定点医药机构。" in page


def test_the_portal_login_page_shows_no_code(demo):
    response = chinese_client().get(reverse("portal:login"))
    assert response.status_code == 200
    assert not codes_in(response.content.decode())
    assert "登录" in response.content.decode()
