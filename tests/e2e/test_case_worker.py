"""A case worker's day in a real browser: import members (a bad row first), look a member up,
open a settlement and its breakdown, reverse it with a reason."""

import re
from datetime import date
from decimal import Decimal

from claims.models import Claim
from core.roles import Role
from members.models import Member, PersonalAccount
from tests.factories import UserFactory, new_id_number
from tests.imports.helpers import write_xlsx
from tests.second_factor import make_authenticator

from .conftest import expect, login_admin
from .data import member_with_account, settle, settlement_policy, staff_of

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
COLUMNS = ["身份证号", "姓名", "在职状态", "参保方式", "人员类别", "单位类型", "缴费基数", "参保日期", "参保状态"]


def member_row(id_number, name):
    return [id_number, name, "在职", "统账结合", "职工", "企业", "6000.00", "2021-01-01", "正常"]


def case_worker():
    user = UserFactory(username="jingban", roles=[Role.CASE_WORKER])
    make_authenticator(user)  # login_admin enters its code after the password
    return user


def upload(page, path, rows):
    """Choose XLSX, attach a member spreadsheet with these rows under the header, submit."""
    page.select_option("#id_format", label="xlsx")
    page.set_input_files("#id_import_file", str(write_xlsx(path, [COLUMNS, *rows])))
    page.get_by_role("button", name="提交").click()


def test_import_shows_the_bad_rows_error_then_imports_the_fixed_file(page, tmp_path):
    case_worker()
    good, fixed = new_id_number(date(1970, 3, 5)), new_id_number(date(1985, 7, 9))
    bad = fixed[:-1] + ("0" if fixed[-1] != "0" else "1")  # a wrong check digit
    login_admin(page, "jingban", PASSWORD)

    page.goto("/admin/members/member/")
    page.get_by_role("link", name="导入", exact=True).click()
    upload(page, tmp_path / "members.xlsx", [member_row(good, "王建国"), member_row(bad, "李秀英")])

    # The page names the bad row (row 3: the header is row 1), its column and why, as text
    # (no hovering), and offers no import.
    expect(page.get_by_role("heading", name="以下行未通过校验，未导入任何数据：")).to_be_visible()
    errors = page.locator("table.import-bad-rows tbody.import-bad-row")
    expect(errors).to_have_count(1)
    expect(errors.locator(".import-bad-row-number")).to_have_text("3")
    expect(errors.locator(".import-bad-row-column")).to_have_text("身份证号")
    expect(errors.locator(".import-bad-row-reason")).to_have_text("身份证号校验码错误。")
    expect(errors.locator(".import-bad-row-reason")).to_be_visible()
    expect(errors).to_contain_text(bad)
    expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    assert Member.objects.count() == 0

    upload(page, tmp_path / "members-fixed.xlsx", [member_row(good, "王建国"), member_row(fixed, "李秀英")])
    preview = page.locator("table.import-preview tbody tr")
    expect(preview).to_have_count(2)
    expect(preview.filter(has_text=fixed)).to_contain_text("新增")
    assert Member.objects.count() == 0  # a preview writes nothing
    page.get_by_role("button", name="确认导入").click()

    expect(page.locator("ul.messagelist")).to_contain_text("导入成功，新增2条记录，更新0条记录")
    expect(page).to_have_url(re.compile(r"/admin/members/member/$"))
    assert dict(Member.objects.values_list("id_number", "name")) == {good: "王建国", fixed: "李秀英"}
    assert {m.enrollments.get().scheme for m in Member.objects.all()} == {"combined"}


def field(page, name):
    """The value shown for a read-only field on an admin change page."""
    return page.locator(f".form-row.field-{name} .readonly")


def test_look_up_a_member_open_the_settlement_and_reverse_it_with_a_reason(page):
    settlement_policy()
    member = member_with_account("张伟", "500.00")
    settled = settle(staff_of(), member, external_ref="HIS-E2E-1")
    # 300.00 in scope, deductible 200.00, 70% of the rest from the fund; the rest from the account.
    assert (settled["total"], settled["deductible"], settled["fund"], settled["account"], settled["cash"]) == (
        "300.00", "200.00", "70.00", "230.00", "0.00")
    assert PersonalAccount.objects.get(member=member).balance == Decimal("270.00")
    claim = Claim.objects.get(external_ref="HIS-E2E-1")
    user = case_worker()
    login_admin(page, "jingban", PASSWORD)

    # Look the member up by ID number: the account after the visit, the year's fund paid.
    page.goto("/admin/members/member/")
    page.fill("#searchbar", member.id_number)
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name="张伟").click()
    expect(page).to_have_url(re.compile(rf"/admin/members/member/{member.pk}/change/"))
    expect(page.locator("#id_name")).to_have_value("张伟")
    expect(field(page, "id_number")).to_have_text(member.id_number)
    account = page.locator(".inline-group", has_text="个人账户").locator(".has_original")
    expect(account.locator(".field-balance")).to_have_text("270.00")
    year = page.locator(".inline-group", has_text="普通门诊统筹年度累计").locator(".has_original")
    expect(year.locator(".field-year")).to_have_text("2023")
    expect(year.locator(".field-fund_paid")).to_have_text("70.00")

    # The settlement and its breakdown.
    page.goto("/admin/claims/claim/")
    page.fill("#searchbar", "HIS-E2E-1")
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name=str(claim.pk), exact=True).click()
    expect(page.get_by_role("heading", name="费用分割")).to_be_visible()
    expect(field(page, "status")).to_have_text("已结算")
    for name, value in (("total", "300.00"), ("policy_scope", "300.00"), ("deductible", "200.00"), ("fund", "70.00"),
                        ("personal_burden", "230.00"), ("account", "230.00"), ("cash", "0.00"),
                        ("balance_after", "270.00")):
        expect(field(page, name)).to_have_text(value)
    expect(page.locator(".inline-group", has_text="A-DRUG")).to_contain_text("阿莫西林胶囊")

    # Reverse it from the list, with a reason.
    page.goto("/admin/claims/claim/")
    page.check(f"input[name=_selected_action][value='{claim.pk}']")
    page.select_option("select[name=action]", label="撤销所选结算（须填写原因）")
    page.get_by_role("button", name="执行").click()
    expect(page.locator("#content")).to_contain_text("300.00")  # the claims to be reversed are listed
    expect(page.get_by_label("原因")).to_be_visible()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.SETTLED  # nothing happens before the reason is given
    page.get_by_label("原因").fill("收费项目录入错误")
    page.get_by_role("button", name="撤销", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("已撤销 1 笔结算。")

    claim.refresh_from_db()
    assert (claim.status, claim.reversal_reason, claim.reversed_by) == (Claim.Status.REVERSED, "收费项目录入错误", user)
    assert PersonalAccount.objects.get(member=member).balance == Decimal("500.00")
    page.goto(f"/admin/claims/claim/{claim.pk}/change/")
    expect(field(page, "status")).to_have_text("已撤销")
    expect(field(page, "reversal_reason")).to_have_text("收费项目录入错误")


def test_first_login_enrols_the_authenticator_then_the_code_opens_the_admin(new_page):
    """A new member of staff: the password, then the enrolment page (QR code and secret), a code,
    the ten recovery codes shown once; the next login asks for a code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.second_factor import code_for

    UserFactory(username="xinren", roles=[Role.AUDITOR])
    page = new_page()
    page.goto("/admin/login/")
    page.fill("#id_username", "xinren")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/otp/enrol/"))
    expect(page.locator("#otp-enrol svg")).to_be_visible()
    from .conftest import enrol_in_browser

    codes = enrol_in_browser(page)
    assert len(codes) == 10
    page.wait_for_url(re.compile(r"/admin/$"))
    expect(page.locator("#site-name")).to_be_visible()

    second = new_page()
    second.goto("/admin/members/member/")
    second.fill("#id_username", "xinren")
    second.fill("#id_password", PASSWORD)
    second.get_by_role("button", name="登录").click()
    second.wait_for_url(re.compile(r"/otp/verify/"))
    device = TOTPDevice.objects.get(user__username="xinren", confirmed=True)
    second.fill("#id_code", code_for(device, steps_ahead=1))
    second.get_by_role("button", name="验证").click()
    second.wait_for_url(re.compile(r"/admin/members/member/"))
