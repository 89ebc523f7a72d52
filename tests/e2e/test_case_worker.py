"""A case worker's day in a real browser: import members (a bad row first), look a member up,
open a settlement and its breakdown, reverse it with a reason."""

import re
from datetime import date

from playwright.sync_api import expect

from core.roles import Role
from members.models import Member
from tests.factories import UserFactory, new_id_number
from tests.imports.helpers import write_xlsx

from .conftest import login_admin

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's
COLUMNS = ["身份证号", "姓名", "在职状态", "参保方式", "人员类别", "单位类型", "缴费基数", "参保日期", "参保状态"]


def member_row(id_number, name):
    return [id_number, name, "在职", "统账结合", "职工", "企业", "6000.00", "2021-01-01", "正常"]


def case_worker():
    return UserFactory(username="jingban", roles=[Role.CASE_WORKER])


def test_import_shows_the_bad_rows_error_then_imports_the_fixed_file(page, tmp_path, transactional_db):
    case_worker()
    good, fixed = new_id_number(date(1970, 3, 5)), new_id_number(date(1985, 7, 9))
    bad = fixed[:-1] + ("0" if fixed[-1] != "0" else "1")  # a wrong check digit
    login_admin(page, "jingban", PASSWORD)

    page.goto("/admin/members/member/")
    page.get_by_role("link", name="导入", exact=True).click()
    page.select_option("#id_format", label="xlsx")
    page.set_input_files("#id_import_file", str(write_xlsx(tmp_path / "members.xlsx", [
        COLUMNS, member_row(good, "王建国"), member_row(bad, "李秀英")])))
    page.get_by_role("button", name="提交").click()

    # The preview names the bad row (row 3: the header is row 1) and why, and offers no import.
    errors = page.locator("table.import-preview tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.locator("td").first).to_have_text("3")
    expect(errors).to_contain_text(bad)
    errors.locator(".validation-error-count").hover()
    expect(errors.get_by_text("身份证号校验码错误。")).to_be_visible()
    expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    assert Member.objects.count() == 0

    page.select_option("#id_format", label="xlsx")
    page.set_input_files("#id_import_file", str(write_xlsx(tmp_path / "members-fixed.xlsx", [
        COLUMNS, member_row(good, "王建国"), member_row(fixed, "李秀英")])))
    page.get_by_role("button", name="提交").click()
    preview = page.locator("table.import-preview tbody tr")
    expect(preview).to_have_count(2)
    expect(preview.filter(has_text=fixed)).to_contain_text("新增")
    assert Member.objects.count() == 0  # a preview writes nothing
    page.get_by_role("button", name="确认导入").click()

    expect(page.locator("ul.messagelist")).to_contain_text("导入成功，新增2条记录，更新0条记录")
    expect(page).to_have_url(re.compile(r"/admin/members/member/$"))
    assert dict(Member.objects.values_list("id_number", "name")) == {good: "王建国", fixed: "李秀英"}
    assert {m.enrollments.get().scheme for m in Member.objects.all()} == {"combined"}
