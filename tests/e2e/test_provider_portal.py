"""Provider staff in a real browser: the portal shows their own provider's settlements and
never another provider's."""

import re

from pharmacies.services import notify_provider
from tests.factories import ProviderFactory

from .conftest import expect
from .data import member_with_account, settle, settlement_policy, staff_of

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


def login_portal(page, username: str) -> None:
    page.goto("/portal/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/portal/$"))


def test_provider_staff_see_only_their_own_settlements(new_page):
    settlement_policy()
    mine = ProviderFactory(name="枣庄市立医院")
    theirs = ProviderFactory(name="市中区人民医院")
    staff_of(mine, user__username="shili")
    staff_of(theirs, user__username="shizhong")
    # Different totals, so that an amount on the page tells whose claim it is.
    settle(staff_of(mine), member_with_account("王建国", "500.00"), external_ref="MINE-0001", quantity="30")
    settle(staff_of(theirs), member_with_account("李秀英", "500.00"), external_ref="THEIRS-0001", quantity="45")
    for amount in ("¥1.00", "¥2.00"):  # two unread notifications for mine, none for theirs
        notify_provider(mine, ("Statement %(amount)s", "Paid %(amount)s."), {"amount": amount})

    page = new_page()
    login_portal(page, "shili")
    expect(page.locator("body")).to_contain_text("枣庄市立医院")
    # Issue 16: the unread count is in the navigation of every portal page.
    expect(page.locator("nav.menu")).to_contain_text("通知 (2)")
    page.get_by_role("link", name="结算记录").click()
    expect(page).to_have_url(re.compile(r"/portal/settlements/"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("MINE-0001")
    expect(rows.locator("td.money").first).to_have_text("300.00")
    content = page.locator("body")
    expect(content).not_to_contain_text("THEIRS-0001")
    expect(content).not_to_contain_text("450.00")
    expect(content).not_to_contain_text("市中区人民医院")

    # Searching for the other provider's transaction number finds nothing.
    page.fill("#id_external_ref", "THEIRS-0001")
    page.get_by_role("button", name="查询").click()
    expect(rows).to_have_count(1)
    expect(rows).to_have_text("未找到结算记录。")

    # The other provider's staff, in their own browser, see theirs and not ours.
    other = new_page()
    login_portal(other, "shizhong")
    other.goto("/portal/settlements/")
    other_rows = other.locator("table tbody tr")
    expect(other_rows).to_have_count(1)
    expect(other_rows).to_contain_text("THEIRS-0001")
    expect(other_rows.locator("td.money").first).to_have_text("450.00")
    expect(other.locator("body")).not_to_contain_text("MINE-0001")
    expect(other.locator("nav.menu")).not_to_contain_text("通知 (")

    # Provider staff never reach the admin.
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
