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


def _dashboard_data():
    """A settled claim and flags of this year (the rule rows are migration data, gone after a
    live-server test's flush: made again if missing)."""
    from supervision.models import Flag, Rule
    from tests.factories import ProviderFactory
    from tests.supervision.helpers import claim, member

    today = date.today()
    provider = ProviderFactory()
    claim(member(), today, total="100.00", provider=provider, fund="60.00")
    rule = Rule.objects.filter(code="after_death").first() or Rule.objects.create(code="after_death", description="死亡后就医")
    for number in range(3):
        Flag.objects.create(rule=rule, item_key=f"e2e-{number}", day=today, provider=provider, message="m",
                            status=Flag.Status.CONFIRMED if number == 0 else Flag.Status.NEW)
    return rule


def test_the_dashboard_draws_its_charts_under_the_policy(page):
    _dashboard_data()
    UserFactory(username="jihe", roles=[Role.AUDITOR])
    login_admin(page, "jihe", PASSWORD)
    page.goto("/admin/supervision/flag/dashboard/")
    page.wait_for_function("() => typeof Chart !== 'undefined' && Chart.getChart('chart-top_violations') !== undefined")
    # The series' names come translated from the page, not from an inline script.
    label = page.evaluate("() => Chart.getChart('chart-spending_by_month').data.datasets.at(-1).label")
    assert label == "个人账户"
    # Count axes have whole-number ticks only (issue 16).
    assert page.evaluate("() => Chart.getChart('chart-flags_by_rule').options.scales.x.ticks.precision") == 0
    assert page.evaluate("() => Chart.getChart('chart-flags_by_month').options.scales.y.ticks.precision") == 0


def test_a_bar_and_its_table_row_open_the_list_behind_them(page):
    """Issue 16: clicking a bar of "flags by rule" opens the flags list filtered to that rule
    and year; the table under the chart has the same link."""
    rule = _dashboard_data()
    UserFactory(username="jihe", roles=[Role.AUDITOR])
    login_admin(page, "jihe", PASSWORD)
    page.goto("/admin/supervision/flag/dashboard/")
    page.wait_for_function("() => typeof Chart !== 'undefined' && Chart.getChart('chart-flags_by_rule') !== undefined")
    # The bar's centre once drawn (no animation), in the window's coordinates.
    page.locator("#chart-flags_by_rule").scroll_into_view_if_needed()
    centre = page.evaluate("""() => {
        const chart = Chart.getChart('chart-flags_by_rule');
        chart.stop(); chart.update('none');
        const point = chart.getDatasetMeta(0).data[0].getCenterPoint();
        return {x: point.x, y: point.y};
    }""")
    box = page.locator("#chart-flags_by_rule").bounding_box()
    page.mouse.click(box["x"] + centre["x"], box["y"] + centre["y"])
    expected = f"/admin/supervision/flag/?rule__id__exact={rule.pk}&day__year={date.today().year}"
    page.wait_for_url(f"**{expected}")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    page.goto("/admin/supervision/flag/dashboard/")
    page.locator("#table-flags_by_rule a").first.click()
    page.wait_for_url(f"**{expected}")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)


def test_the_print_button_of_a_statement_prints_under_the_policy(page):
    member = member_with_account("王建国", "100.00")
    UserFactory(username="caiwu", roles=[Role.FINANCE])
    login_admin(page, "caiwu", PASSWORD)
    page.goto(f"/accounts/{member.pk}/statement/{date.today().year}/")
    expect(page.locator("body")).to_contain_text("100.00")
    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    page.get_by_role("button", name="打印").click()
    assert page.evaluate("() => window.printed") == 1
