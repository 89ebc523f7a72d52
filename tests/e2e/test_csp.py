"""Issue 11: the pages whose scripts moved out of the templates work in a real browser under the
Content-Security-Policy, with no "Refused to …" on the console (the new_page fixture fails the
test on any): Swagger UI at /api/docs/, the supervision dashboard's charts, a printable
statement's Print button."""

from datetime import date

from core.roles import Role
from tests.factories import UserFactory

from .conftest import expect, login_admin
from .data import member_with_account

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


def test_swagger_ui_starts_under_the_policy(page):
    response = page.goto("/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Gongji API")
    expect(page.locator(".opblock").first).to_be_visible()


def test_the_dashboard_draws_its_charts_under_the_policy(page):
    UserFactory(username="jihe", roles=[Role.AUDITOR])
    login_admin(page, "jihe", PASSWORD)
    page.goto("/admin/supervision/flag/dashboard/")
    page.wait_for_function("() => typeof Chart !== 'undefined' && Chart.getChart('chart-violations') !== undefined")
    # The series' names come translated from the page, not from an inline script.
    label = page.evaluate("() => Chart.getChart('chart-spending-month').data.datasets.at(-1).label")
    assert label == "个人账户"


def test_the_print_button_of_a_statement_prints_under_the_policy(page):
    member = member_with_account("王建国", "100.00")
    UserFactory(username="caiwu", roles=[Role.FINANCE])
    login_admin(page, "caiwu", PASSWORD)
    page.goto(f"/accounts/{member.pk}/statement/{date.today().year}/")
    expect(page.locator("body")).to_contain_text("100.00")
    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    page.get_by_role("button", name="打印").click()
    assert page.evaluate("() => window.printed") == 1
