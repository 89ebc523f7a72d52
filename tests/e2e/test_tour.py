"""Each role's day on the demo, in a real browser (issue 16): the case worker, the auditors, the
finance officers and a provider's staff, signed in as the demo's own users, doing what the
README's tour shows. Every step asserts what a person reads there, in Chinese.

With TOUR_SCREENSHOTS=1 each step also saves the page as it is then (1366×768, the part that
matters scrolled into view) to docs/tour/<nn>-<role>-<page>.png, the README's tour:

    TOUR_SCREENSHOTS=1 .venv/bin/python -m pytest tests/e2e/test_tour.py -q
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from claims.models import Claim, ProviderStatement
from supervision.models import Flag

from .conftest import expect, login_admin

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tour"
VIEWPORT = (1366, 768)
PASSWORD = "gongji-demo-2026"  # demo.data.DEMO_PASSWORD: every demo user's
HOSPITAL = "H37040200001"  # 枣庄市立医院, whose staff sign in as `provider`


@pytest.fixture
def demo(settings):
    """The demo as `make run` loads it, dated today (the live server's today: appeal deadlines
    and the month closed are relative to it)."""
    from demo.data import load_demo

    settings.REGION = "zaozhuang"
    load_demo()


def shot(page, name: str, focus=None) -> None:
    """Save the page for the README's tour when TOUR_SCREENSHOTS=1 (`focus` scrolled into view)."""
    if os.environ.get("TOUR_SCREENSHOTS") != "1":
        return
    if focus is not None:
        focus.scroll_into_view_if_needed()
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / f"{name}.png"))


def signed_in(new_page, username: str):
    page = new_page(viewport=VIEWPORT)
    login_admin(page, username, PASSWORD)
    expect(page.locator("#gongji-workbench")).to_contain_text("工作台")
    return page


def workbench_item(page, label: str):
    """A workbench row: its label (a link) and count."""
    return page.locator("#gongji-workbench tr", has=page.get_by_role("link", name=label, exact=True))


def message(page):
    return page.locator("ul.messagelist")


def field(page, name):
    """The value shown for a read-only field on an admin change page."""
    return page.locator(f".form-row.field-{name} .readonly")


# ---------------------------------------------------------------------------------------------
# 经办 case worker
# ---------------------------------------------------------------------------------------------


def test_case_workers_day(demo, new_page):
    # An outpatient pooling visit at the hospital last month (the demo's DEMO-H-<month>-nn).
    claim = (Claim.objects.filter(provider__code=HOSPITAL, status=Claim.Status.SETTLED, fund__gt=0,
                                  external_ref__startswith="DEMO-H-")
             .select_related("member").order_by("-settled_at", "-pk").first())
    member = claim.member
    # 李强: the withdrawal 张敏 proposed waits for him (never for the proposer).
    page = signed_in(new_page, "caseworker2")
    expect(workbench_item(page, "待审批的个人账户支取和转移")).to_contain_text("1")
    shot(page, "01-caseworker-workbench")

    # Find the member by part of the name (the given name), then by the ID number's last four digits.
    given = member.name[1:]
    page.goto("/admin/members/member/")
    page.fill("#searchbar", given)
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows.get_by_role("link", name=member.name, exact=True)).to_be_visible()
    for text in rows.all_inner_texts():
        assert given in text  # every member found has it in the name
    shot(page, "02-caseworker-find-by-name")

    page.fill("#searchbar", member.id_number[-4:])
    page.press("#searchbar", "Enter")
    expect(rows.get_by_role("link", name=member.name, exact=True)).to_be_visible()
    expect(rows.filter(has_text=member.name)).to_contain_text(member.id_number[-4:])
    expect(page.locator("#result_list")).not_to_contain_text(member.id_number[6:14])  # birth date masked
    shot(page, "03-caseworker-find-by-last-four")

    # The member page: the year so far and the latest settlements.
    rows.get_by_role("link", name=member.name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/admin/members/member/{member.pk}/change/"))
    year = page.locator("#member-year")
    expect(year.get_by_role("heading", name=f"本年度至今：{timezone.localdate().year}")).to_be_visible()
    expect(year).to_contain_text("门诊统筹")
    expect(year).to_contain_text("个人账户")
    shot(page, "04-caseworker-member-year", focus=year)
    latest = page.locator(".inline-group", has_text="最近结算")
    expect(latest.get_by_role("link", name=claim.external_ref, exact=True)).to_be_visible()
    shot(page, "05-caseworker-member-settlements", focus=latest)

    # The settlement and why it paid this (说明: the calculation step by step).
    latest.get_by_role("link", name=claim.external_ref, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/admin/claims/claim/{claim.pk}/change/"))
    expect(field(page, "status")).to_have_text("已结算")
    expect(field(page, "fund")).to_have_text(str(claim.fund))
    steps = page.locator(".field-calculation ol.explanation li")
    assert steps.count() >= 3
    expect(page.locator(".field-calculation")).to_contain_text("计算过程")
    expect(steps.first).to_contain_text(re.compile(r"[\u4e00-\u9fff]"))
    expect(page.locator(".field-calculation")).to_contain_text(re.compile(r"由统筹基金按 \d+(\.\d+)?% 支付"))
    shot(page, "06-caseworker-settlement-explanation", focus=page.locator(".field-calculation"))

    # Reverse it from its own page, with a reason.
    page.get_by_role("link", name="撤销此结算").click()
    expect(page.locator("#content")).to_contain_text(str(claim.total))
    page.get_by_label("原因").fill("收费项目录入错误，机构申请撤销后重新结算")
    shot(page, "07-caseworker-reverse-with-reason")
    claim.refresh_from_db()
    assert claim.status == Claim.Status.SETTLED  # nothing happens before the form is sent
    page.get_by_role("button", name="撤销", exact=True).click()
    expect(message(page)).to_contain_text(f"结算 {claim.pk} 已撤销。")
    expect(field(page, "status")).to_have_text("已撤销")
    expect(field(page, "reversal_reason")).to_have_text("收费项目录入错误，机构申请撤销后重新结算")
    claim.refresh_from_db()
    assert (claim.status, claim.reversed_by.username) == (Claim.Status.REVERSED, "caseworker2")


# ---------------------------------------------------------------------------------------------
# 稽核 auditors: first review, second review (another auditor), the appeal (a third), deduction
# ---------------------------------------------------------------------------------------------


def step_form(page, flag):
    page.goto(f"/admin/supervision/flag/{flag.pk}/change/")
    expect(field(page, "rule_description")).to_have_text(flag.rule.description)
    page.locator(".object-tools a.default").click()
    expect(page).to_have_url(re.compile(rf"/admin/supervision/flag/{flag.pk}/step/"))


def test_auditors_day(demo, new_page):
    new = Flag.objects.filter(status=Flag.Status.NEW, provider__code=HOSPITAL).order_by("pk").first()
    appealed = Flag.objects.get(status=Flag.Status.APPEALED)
    page = signed_in(new_page, "auditor")
    expect(workbench_item(page, "待初审的疑点")).to_contain_text(
        str(Flag.objects.filter(status=Flag.Status.NEW).count()))
    shot(page, "08-auditor-workbench")

    # First review (auditor 王芳): the rule in words, the evidence as settlements, her own opinion.
    step_form(page, new)
    expect(page.locator("#content h1")).to_have_text("初审")
    expect(page.locator("#content")).to_contain_text("枣庄市立医院")
    expect(page.locator("#content a[href*='/admin/claims/claim/']").first).to_be_visible()  # the evidence
    page.get_by_label("初审意见").fill("同一次就诊既收诊查费又收血常规检查费，属重复收费，建议复审。")
    shot(page, "09-auditor-first-review")
    page.get_by_role("button", name="保存").click()
    expect(message(page)).to_contain_text("初审已记录。")
    expect(field(page, "status")).to_have_text("已初审")
    new.refresh_from_db()
    assert (new.status, new.first_reviewer.username) == (Flag.Status.FIRST_REVIEWED, "auditor")

    # Second review by another auditor (赵磊): a violation, the amount set from the evidence.
    second = signed_in(new_page, "auditor2")
    step_form(second, new)
    expect(second.locator("#content h1")).to_have_text("复审")
    expect(second.locator("#content")).to_contain_text("同一次就诊既收诊查费又收血常规检查费")  # the first opinion
    second.get_by_label("违规：机构退回下列金额").check()
    amount = new.amount_at_stake
    second.get_by_label("扣款金额").fill(str(amount))
    second.get_by_label("复审意见").fill("核对收费明细属实，按规则建议金额扣款。")
    shot(second, "10-auditor-second-review")
    second.get_by_role("button", name="保存").click()
    expect(message(second)).to_contain_text("已确认违规；机构可在申诉期限内申诉。")
    expect(field(second, "status")).to_have_text("已确认违规")
    expect(field(second, "confirmed_amount")).to_have_text(str(amount))
    shot(second, "11-auditor-confirmed")
    new.refresh_from_db()
    assert (new.status, new.second_reviewer.username, new.confirmed_amount) == (
        Flag.Status.CONFIRMED, "auditor2", amount)

    # The provider's appeal, decided by a third auditor (孙伟), with reasons; then the deduction.
    third = signed_in(new_page, "auditor3")
    expect(workbench_item(third, "待裁定的申诉")).to_contain_text("1")
    step_form(third, appealed)
    expect(third.locator("#content h1")).to_have_text("申诉裁定")
    expect(third.locator("#content")).to_contain_text(appealed.appeal_reason)
    third.get_by_label("申诉不成立：维持违规认定").check()
    third.get_by_label("审批意见").fill("复查理由与检验报告时间不符，申诉不予支持。")
    shot(third, "12-auditor-appeal-decision")
    third.get_by_role("button", name="保存").click()
    expect(message(third)).to_contain_text("申诉不成立，维持违规认定。")
    appealed.refresh_from_db()
    assert (appealed.status, appealed.appeal_decided_by.username) == (Flag.Status.CONFIRMED, "auditor3")

    third.goto("/admin/supervision/flag/?status__exact=confirmed")
    third.check(f"input[name=_selected_action][value='{appealed.pk}']")
    third.select_option("select[name=action]", label="将确认金额在机构下期结算单中扣减")
    third.get_by_role("button", name="执行").click()
    expect(message(third)).to_contain_text("已扣款 1 条疑点。")
    third.goto(f"/admin/supervision/flag/{appealed.pk}/change/")
    expect(field(third, "status")).to_have_text("已扣款")
    expect(field(third, "appeal_decision")).to_have_text("复查理由与检验报告时间不符，申诉不予支持。")
    # Who took each step, by name.
    expect(field(third, "first_reviewer_name")).to_have_text("稽核员 王芳")
    expect(field(third, "second_reviewer_name")).to_have_text("稽核员 赵磊")
    expect(field(third, "appeal_decided_by_name")).to_have_text("稽核科长 孙伟")
    shot(third, "13-auditor-deducted", focus=field(third, "appeal_decision"))
    appealed.refresh_from_db()
    assert appealed.status == Flag.Status.DEDUCTED and appealed.deduction_reference


# ---------------------------------------------------------------------------------------------
# 财务 finance: one approves (never the preparer), the other records the payment (never the approver)
# ---------------------------------------------------------------------------------------------


def test_finance_day(demo, new_page):
    from claims.statements.services import statement_close_month

    # The month before last, closed by the monthly task (no person): drafts to approve.
    last = timezone.localdate().replace(day=1) - timedelta(days=1)
    month = (last.replace(day=1) - timedelta(days=1)).replace(day=1)
    statement_close_month(month=month)
    statement = ProviderStatement.objects.get(month=month, provider__code=HOSPITAL)
    assert statement.status == ProviderStatement.Status.DRAFT and statement.payable > 0

    page = signed_in(new_page, "finance")
    expect(workbench_item(page, "待审核的月度清算单")).to_be_visible()
    shot(page, "14-finance-workbench")
    workbench_item(page, "待审核的月度清算单").get_by_role("link", name="待审核的月度清算单").click()
    expect(page).to_have_url(re.compile(r"/admin/claims/providerstatement/\?status__exact=draft"))
    page.check(f"input[name=_selected_action][value='{statement.pk}']")
    page.select_option("select[name=action]", label="审批所选清算单")
    page.get_by_role("button", name="执行").click()
    expect(message(page)).to_contain_text("已审批 1 张清算单。")
    shot(page, "15-finance-approved")
    statement.refresh_from_db()
    assert (statement.status, statement.approved_by.username) == (ProviderStatement.Status.APPROVED, "finance")

    # The payment, recorded by the other finance officer.
    cashier = signed_in(new_page, "finance2")
    cashier.goto(f"/admin/claims/providerstatement/{statement.pk}/change/")
    cashier.get_by_role("link", name="登记支付").click()
    expect(cashier.locator("#content")).to_contain_text(str(statement.payable))
    cashier.get_by_label("支付凭证号").fill(f"BANK-{month:%Y%m}-0001")
    shot(cashier, "16-finance-record-payment")
    cashier.get_by_role("button", name="登记支付").click()
    expect(message(cashier)).to_contain_text("已登记支付。")
    expect(field(cashier, "payment_reference")).to_have_text(f"BANK-{month:%Y%m}-0001")
    statement.refresh_from_db()
    assert (statement.status, statement.paid_by.username) == (ProviderStatement.Status.PAID, "finance2")

    # The print: the payable in capital numerals, and who approved and paid by name.
    cashier.goto(f"/admin/claims/providerstatement/{statement.pk}/print/")
    from core.money import to_capital

    capital = cashier.locator("p.capital")
    expect(capital).to_contain_text(f"应付金额（大写）：人民币 {to_capital(statement.payable)}")
    expect(capital).to_contain_text(re.compile(r"[壹贰叁肆伍陆柒捌玖拾佰仟万亿]+元"))
    signatures = cashier.locator(".signatures")
    expect(signatures).to_contain_text("审批人：财务 陈静")
    expect(signatures).to_contain_text("付款登记人：财务 刘洋")
    expect(signatures).not_to_contain_text("finance")
    shot(cashier, "17-finance-statement-print", focus=capital)


# ---------------------------------------------------------------------------------------------
# 定点机构 a provider's staff, in the portal
# ---------------------------------------------------------------------------------------------


def test_providers_day(demo, new_page):
    confirmed = Flag.objects.filter(status=Flag.Status.CONFIRMED, provider__code=HOSPITAL,
                                    appeal_decided_by__isnull=True, appeal_deadline__gte=timezone.localdate()).first()
    settlement = (Claim.objects.filter(provider__code=HOSPITAL, status=Claim.Status.SETTLED, fund__gt=0,
                                       external_ref__startswith="DEMO-H-").order_by("-settled_at", "-pk").first())
    page = new_page(viewport=VIEWPORT)
    page.goto("/portal/login/")
    page.fill("#id_username", "provider")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/portal/$"))
    expect(page.locator("body")).to_contain_text("枣庄市立医院")
    shot(page, "18-provider-home")

    # Settlements, one with its lines and explanation.
    page.get_by_role("link", name="结算记录").click()
    rows = page.locator("table tbody tr")
    expect(rows.first).to_contain_text("DEMO-")
    expect(page.locator("body")).not_to_contain_text("DEMO-P-")  # the pharmacy's sales are not ours
    shot(page, "19-provider-settlements")
    page.fill("#id_external_ref", settlement.external_ref)  # found by its own transaction number
    page.get_by_role("button", name="查询").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(settlement.external_ref)
    rows.filter(has_text=settlement.external_ref).get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/portal/settlements/{settlement.pk}/"))
    expect(page.locator("body")).to_contain_text(settlement.external_ref)
    expect(page.locator("body")).to_contain_text(str(settlement.total))
    shot(page, "20-provider-settlement")

    # A confirmed flag: its own transaction numbers (linked), then an appeal with a reason.
    page.get_by_role("link", name="监管疑点").click()
    page.locator(f"a[href='/portal/flags/{confirmed.pk}/']").first.click()
    expect(page.get_by_role("heading", name=confirmed.rule.title)).to_be_visible()
    involved = page.locator("tr", has_text="涉及结算")
    refs = involved.get_by_role("link").all_inner_texts()
    # The settlements and, in the evidence, its items: each named by the hospital's own number.
    assert refs and all(re.search(r"DEMO-H-\d{6}-\d+", ref) for ref in refs), refs
    expect(page.locator("body")).to_contain_text("已确认违规")
    page.locator("#reason").fill("两次检验分别为上午初诊和下午复查，附检验报告及医嘱。")
    shot(page, "21-provider-flag-appeal", focus=page.locator("#reason"))
    page.get_by_role("button", name="提交申诉").click()
    expect(page.locator("body")).to_contain_text("申诉已提交。")
    expect(page.locator("body")).to_contain_text("两次检验分别为上午初诊和下午复查")
    confirmed.refresh_from_db()
    assert confirmed.status == Flag.Status.APPEALED

    # Statements: last month's, paid, with the payable.
    page.get_by_role("link", name="月度清算").click()
    statement = ProviderStatement.objects.filter(provider__code=HOSPITAL).order_by("-month").first()
    expect(page.locator("body")).to_contain_text(f"{statement.month:%Y-%m}")
    shot(page, "22-provider-statements")
    page.goto(f"/portal/statements/{statement.pk}/")
    expect(page.locator("body")).to_contain_text(str(statement.payable))
    expect(page.locator("body")).to_contain_text(statement.get_status_display())
    shot(page, "23-provider-statement")

    page.get_by_role("link", name=re.compile("^通知")).first.click()
    expect(page).to_have_url(re.compile(r"/portal/notifications/"))
    expect(page.get_by_role("heading", name="通知")).to_be_visible()
    # Last month's statement, approved and paid, told to the provider.
    expect(page.locator("body")).to_contain_text(f"{statement.month:%Y年%m月} 月度清算款已拨付")
    shot(page, "24-provider-notifications")
