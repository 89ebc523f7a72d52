"""Issue 16: at 1366×768 (the agency's common laptop screen) the main lists show their status
column (状态) without horizontal scrolling, and the add-member page with its enrollment form is
no wider than the screen. On the demo data (manage.py setup_demo), as the role who uses each page."""

from datetime import date

import pytest
from django.core.management import call_command

from .conftest import expect, login_admin

WIDTH, HEIGHT = 1366, 768
DEMO_PASSWORD = "gongji-demo-2026"

# (page, the demo user of the role who uses it)
CHANGELISTS = [
    ("/admin/members/member/", "caseworker"),
    ("/admin/claims/claim/", "caseworker"),
    ("/admin/claims/providerstatement/", "finance"),
    ("/admin/supervision/flag/", "auditor"),
    ("/admin/pharmacies/application/", "caseworker"),
    ("/admin/pharmacies/agreement/", "caseworker"),
    ("/admin/pharmacies/provider/", "caseworker"),
    ("/admin/members/accountdecision/", "caseworker"),
]

MEASURE = """() => {
    const header = [...document.querySelectorAll('#result_list thead th')]
        .find(th => th.textContent.trim() === '状态');
    return {
        pageWidth: document.scrollingElement.scrollWidth,
        statusRight: header ? header.getBoundingClientRect().right : null,
        // the list scrolls inside its own box (.results) rather than the page
        resultsRight: document.querySelector('#changelist .results')?.getBoundingClientRect().right ?? null,
        rows: document.querySelectorAll('#result_list tbody tr').length,
    };
}"""


@pytest.fixture
def demo(transactional_db):
    from django.contrib.auth import get_user_model

    from pharmacies.models import Agreement, Application, Provider

    call_command("setup_demo", verbosity=0)
    # The demo files no application and signs no agreement: one of each, with long names.
    case_worker = get_user_model().objects.get(username="caseworker")
    Application.objects.create(code="P37040200099", name="仁和大药房枣庄市中区光明路连锁店", kind="pharmacy",
                               status="submitted", filed_by=case_worker)
    Agreement.objects.create(provider=Provider.objects.order_by("-name").first(), period_from=date(2026, 1, 1),
                             period_to=date(2028, 12, 31), payment_method="per_item", outpatient_pooling=True,
                             signed_by=case_worker)


def at_1366(new_page):
    page = new_page()
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    return page


def test_the_main_lists_show_the_status_column_at_1366_px(new_page, demo):
    pages = {}
    measured = {}
    for path, username in CHANGELISTS:
        if username not in pages:
            pages[username] = at_1366(new_page)
            login_admin(pages[username], username, DEMO_PASSWORD)
        page = pages[username]
        page.goto(path)
        expect(page.locator("#changelist")).to_be_visible()
        page.wait_for_load_state("load")
        measured[path] = page.evaluate(MEASURE)
    for path, found in measured.items():
        assert found["rows"] > 0, f"{path}: the demo shows no rows (nothing to measure)"
        assert found["statusRight"] is not None, f"{path}: no 状态 column"
    too_wide = {path: found for path, found in measured.items()
                if found["pageWidth"] > WIDTH or found["statusRight"] > min(WIDTH, found["resultsRight"])}
    assert too_wide == {}, f"wider than {WIDTH} px: {too_wide}"


def test_the_add_member_page_is_no_wider_than_the_screen(new_page, demo):
    page = at_1366(new_page)
    login_admin(page, "caseworker", DEMO_PASSWORD)
    page.goto("/admin/members/member/add/")
    expect(page.locator("#member_form")).to_be_visible()
    page.wait_for_load_state("load")
    # The enrollment form: a new member's first spell is added as a row of the inline.
    enrollments = page.locator("#enrollments-group")
    enrollments.locator(".add-row a").click()
    expect(page.locator("#enrollments-0")).to_be_visible()
    measured = page.evaluate("""() => {
        const group = document.querySelector('#enrollments-group fieldset.module');
        const date = document.querySelector('#id_enrollments-0-effective_from');
        const scheme = document.querySelector('#id_enrollments-0-scheme');
        return {
            pageWidth: document.scrollingElement.scrollWidth,
            // the inline's own box does not scroll either: every column is in view
            inlineOverflow: group.scrollWidth - group.clientWidth,
            inlineRight: group.getBoundingClientRect().right,
            dateWidth: date.getBoundingClientRect().width,
            schemeWidth: scheme.getBoundingClientRect().width,
        };
    }""")
    assert measured["pageWidth"] <= WIDTH, measured
    assert measured["inlineOverflow"] <= 0 and measured["inlineRight"] <= WIDTH, measured
    assert measured["dateWidth"] >= 80, measured  # a date (2026-01-01) can be read as it is typed
    assert measured["schemeWidth"] >= 40, measured  # a choice shows its first characters
