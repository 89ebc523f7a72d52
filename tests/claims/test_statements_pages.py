"""Portal and admin pages of the monthly statements: own provider only (another's is a 404),
search and exports, print, reconciliation form; admin approval action and payment."""

from decimal import Decimal
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from claims.models import ProviderStatement, Reconciliation
from claims.statements.services import statement_close_month
from core.roles import Role
from tests.factories import ProviderFactory, ProviderStaffFactory, UserFactory

from .statement_helpers import MARCH, local, settled_claim


@pytest.fixture
def setup(region, catalog):
    region("zaozhuang")
    mine, theirs = ProviderFactory(), ProviderFactory()
    member = settled_claim(provider=mine, settled_at=local(2026, 3, 3), fund="10.00", external_ref="MINE-1").member
    settled_claim(provider=mine, settled_at=local(2026, 3, 20), fund="2.50", cash="1.00", external_ref="MINE-2")
    settled_claim(provider=theirs, settled_at=local(2026, 3, 3), fund="99.00", external_ref="THEIRS-1")
    statement_close_month(month=MARCH)
    return {"mine": mine, "theirs": theirs, "member": member}


@pytest.fixture
def portal(setup):
    client = Client()
    client.force_login(ProviderStaffFactory(provider=setup["mine"]).user)
    return client


def test_settlements_page_lists_only_own_and_searches(portal, setup):
    url = reverse("portal_claims:settlements")
    page = portal.get(url).content.decode()
    assert "MINE-1" in page and "MINE-2" in page and "THEIRS-1" not in page
    assert setup["member"].id_number not in page  # masked only
    masked = setup["member"].masked_id_number
    assert masked in page
    page = portal.get(url, {"member": masked}).content.decode()
    assert "MINE-1" in page and "MINE-2" not in page
    page = portal.get(url, {"member": setup["member"].id_number}).content.decode()
    assert "MINE-1" in page and "MINE-2" not in page
    page = portal.get(url, {"external_ref": "MINE-2"}).content.decode()
    assert "MINE-2" in page and "MINE-1" not in page
    page = portal.get(url, {"settled_from": "2026-03-10", "settled_to": "2026-03-31"}).content.decode()
    assert "MINE-2" in page and "MINE-1" not in page
    assert portal.get(url, {"external_ref": "THEIRS-1"}).context["claims"] == []


def test_settlements_export_csv_and_xlsx_own_only(portal):
    url = reverse("portal_claims:settlements")
    response = portal.get(url, {"export": "csv"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "MINE-1" in text and "MINE-2" in text and "THEIRS-1" not in text
    response = portal.get(url, {"export": "xlsx", "external_ref": "MINE-2"})
    sheet = load_workbook(BytesIO(response.content)).active
    rows = list(sheet.values)
    assert rows[0][1] == "external_ref" and [r[1] for r in rows[1:]] == ["MINE-2"]


def test_statement_pages_own_provider_only(portal, setup):
    mine = ProviderStatement.objects.get(provider=setup["mine"])
    theirs = ProviderStatement.objects.get(provider=setup["theirs"])
    listing = portal.get(reverse("portal_claims:statements")).content.decode()
    assert reverse("portal_claims:statement", args=[mine.pk]) in listing
    assert reverse("portal_claims:statement", args=[theirs.pk]) not in listing
    for name in ("statement", "statement_print", "statement_xlsx"):
        assert portal.get(reverse(f"portal_claims:{name}", args=[mine.pk])).status_code == 200
        assert portal.get(reverse(f"portal_claims:{name}", args=[theirs.pk])).status_code == 404
    printed = portal.get(reverse("portal_claims:statement_print", args=[mine.pk])).content.decode()
    assert "12.50" in printed
    workbook = load_workbook(BytesIO(portal.get(reverse("portal_claims:statement_xlsx", args=[mine.pk])).content))
    header, values = list(workbook.worksheets[0].values)
    # settlements, total, fund, …, amount payable (exports.statement_rows order: one line per
    # fund of claims.funds, paid and reversed)
    assert (values[3], values[4], values[5]) == (2, 13.5, 12.5)
    assert dict(zip(header, values, strict=True))["应拨付金额（各项基金＋账户－扣款）"] == 12.5


def test_reconciliation_form_with_a_list_and_other_providers_result_is_404(portal, setup):
    csv = "external_ref,total,fund,account,cash\nMINE-1,10.00,10.00,0.00,0.00\nMINE-2,3.50,2.50,0.00,0.00\n"
    response = portal.post(reverse("portal_claims:reconciliations"), {
        "period_from": "2026-03-01", "period_to": "2026-03-31", "count": "2", "total": "13.50", "fund": "12.50",
        "account": "0.00", "cash": "1.00", "settlements_file": SimpleUploadedFile("list.csv", csv.encode()),
    })
    reconciliation = Reconciliation.objects.get()
    assert response.status_code == 302
    assert reconciliation.provider == setup["mine"]
    assert reconciliation.result == "mismatch"  # MINE-2's cash differs: 0.00 listed, 1.00 settled
    assert [d["external_ref"] for d in reconciliation.differences["different_amounts"]] == ["MINE-2"]
    page = portal.get(response["Location"], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "MINE-2" in page
    # Each figure by the name the form gave it (issue 16: words, not the keys count, cash…).
    assert '<th>结算笔数</th><td class="money">2</td><td class="money">2</td>' in page
    assert '<th>个人现金支付</th><td class="money">1.00</td><td class="money">1.00</td>' in page
    assert "个人现金支付：0.00 / 1.00" in page  # the admin's words and the full-width colon
    assert "<th>cash</th>" not in page and "cash:" not in page and "cash：" not in page

    other = Client()
    other.force_login(ProviderStaffFactory(provider=setup["theirs"]).user)
    assert other.get(reverse("portal_claims:reconciliation", args=[reconciliation.pk])).status_code == 404


def test_the_portal_marks_each_figure_that_differs_from_the_agencys_not_by_colour_alone(portal, setup):
    """A figure the provider sent that differs from the agency's carries the class and the word
    不一致 (colour alone is not enough: a printout, a colour-blind reader); an equal one neither."""
    import re

    portal.post(reverse("portal_claims:reconciliations"), {
        "period_from": "2026-03-01", "period_to": "2026-03-31", "count": "3", "total": "1013.50", "fund": "12.50",
        "account": "0.00", "cash": "1.00",
    })
    reconciliation = Reconciliation.objects.get()
    page = portal.get(reverse("portal_claims:reconciliation", args=[reconciliation.pk]),
                      HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    rows = re.findall(r'<tr( class="reconciliation-differs")?><th>([^<]+(?:<span class="differs-mark">[^<]*</span>)?)</th><td class="money">([^<]*)</td>'
                      r'<td class="money">([^<]*)</td></tr>', page)
    assert [(bool(marked), label, mine, agency) for marked, label, mine, agency in rows] == [
        (True, '结算笔数 <span class="differs-mark">不一致</span>', "3", "2"),
        (True, '医疗费总额 <span class="differs-mark">不一致</span>', "1013.50", "13.50"),
        (False, "统筹基金已支付", "12.50", "12.50"),
        (False, "账户支付（个人账户及家庭共济）", "0.00", "0.00"),
        (False, "个人现金支付", "1.00", "1.00"),
    ]
    assert page.count("不一致") == 2 + 1  # the two rows and the result (结果：不一致)


def test_admin_approval_by_a_second_finance_officer_print_and_payment(setup):
    statement = ProviderStatement.objects.get(provider=setup["mine"])
    client = Client()
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    changelist = reverse("admin:claims_providerstatement_changelist")
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "approve_selected", "_selected_action": [statement.pk]})
    statement.refresh_from_db()
    assert statement.status == "approved"
    assert client.get(reverse("admin:claims_providerstatement_print", args=[statement.pk])).status_code == 200
    assert client.get(reverse("admin:claims_providerstatement_xlsx", args=[statement.pk])).status_code == 200
    # 会计 and 出纳 differ (Ziyang 第十九条): another finance officer records the payment.
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    response = client.post(reverse("admin:claims_providerstatement_pay", args=[statement.pk]), {"payment_reference": "BANK-7"})
    assert response.status_code == 302
    statement.refresh_from_db()
    assert (statement.status, statement.payment_reference) == ("paid", "BANK-7")


def test_admin_approval_by_a_case_worker_changes_nothing(setup):
    statement = ProviderStatement.objects.get(provider=setup["mine"])
    client = Client()
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    client.post(reverse("admin:claims_providerstatement_changelist"),
                {"action": "approve_selected", "_selected_action": [statement.pk]})
    statement.refresh_from_db()
    assert statement.status == "draft"


@pytest.mark.parametrize("name", ["settlements", "statements", "reconciliations"])
def test_portal_pages_need_a_provider_user(setup, name):
    url = reverse(f"portal_claims:{name}")
    anonymous = Client()
    response = anonymous.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))
    staff = Client()
    staff.force_login(UserFactory(roles=[Role.FINANCE]))
    assert staff.get(url).status_code == 403


def test_the_printed_statement_has_the_payable_in_capitals_and_the_people_by_name(setup):
    """Finance prints the statement for signature: 大写 amount and the names (not usernames) of
    who prepared, approved and recorded the payment."""
    from claims.statements.services import statement_approve, statement_record_payment

    statement = ProviderStatement.objects.get(provider=setup["mine"])
    assert statement.payable == Decimal("12.50")
    approver = UserFactory(roles=[Role.FINANCE], username="fin_a", last_name="王", first_name="会计")
    payer = UserFactory(roles=[Role.FINANCE], username="fin_b", last_name="赵", first_name="出纳")
    statement_approve(statement_id=statement.pk, user=approver)
    statement_record_payment(statement_id=statement.pk, user=payer, payment_reference="BANK-9")
    client = Client()
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    page = client.get(reverse("admin:claims_providerstatement_print", args=[statement.pk])).content.decode()
    assert "壹拾贰元伍角整" in page
    assert "王会计" in page and "赵出纳" in page
    assert "fin_a" not in page and "fin_b" not in page
    # Generated by the scheduled close (no user): the system, in words.
    assert "系统" in page


def test_the_statement_admin_page_names_the_people_as_the_print_does(setup):
    """The change page shows who approved, recorded the payment and decided a deduction by name
    (王会计), as the print does, never the usernames (fin_a)."""
    import datetime

    from claims.models import Deduction
    from claims.statements.services import statement_approve, statement_record_payment

    statement = ProviderStatement.objects.get(provider=setup["mine"])
    approver = UserFactory(roles=[Role.FINANCE], username="fin_a", last_name="王", first_name="会计")
    payer = UserFactory(roles=[Role.FINANCE], username="fin_b", last_name="赵", first_name="出纳")
    auditor = UserFactory(roles=[Role.AUDITOR], username="aud_c", last_name="孙", first_name="稽核")
    Deduction.objects.create(provider=setup["mine"], amount=Decimal("1.00"), reason="违规", source_reference="flag:1",
                             decided_by=auditor, decided_on=datetime.date(2026, 3, 31), statement=statement)
    client = _finance_client()
    url = reverse("admin:claims_providerstatement_change", args=[statement.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "审批人" in page and "支付登记人" in page and "生成人" in page
    assert "系统（定时任务）" in page  # generated by the scheduled close
    statement_approve(statement_id=statement.pk, user=approver)
    statement_record_payment(statement_id=statement.pk, user=payer, payment_reference="BANK-9")
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "王会计" in page and "赵出纳" in page and "孙稽核" in page
    assert "fin_a" not in page and "fin_b" not in page and "aud_c" not in page


@pytest.mark.parametrize("amount, words", [
    ("0", "零元整"), ("0.05", "伍分"), ("0.50", "伍角整"), ("10.50", "壹拾元伍角整"),
    ("100.07", "壹佰元零柒分"), ("1010", "壹仟零壹拾元整"), ("100001", "壹拾万零壹元整"),
    ("105000", "壹拾万伍仟元整"), ("1000000.01", "壹佰万元零壹分"), ("3000400.10", "叁佰万零肆佰元壹角整"),
    ("12345678.90", "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元玖角整"), ("100000000", "壹亿元整"), ("-3.20", "负叁元贰角整"),
])
def test_capital_numerals_follow_the_rules_for_filling_in_bills(amount, words):
    from core.money import to_capital

    assert to_capital(Decimal(amount)) == words


def test_the_statement_xlsx_lists_every_settlement_behind_its_totals(setup, portal):
    """Finance and the provider check the totals against the settlements, row by row."""
    statement = ProviderStatement.objects.get(provider=setup["mine"])
    for response in (
        portal.get(reverse("portal_claims:statement_xlsx", args=[statement.pk])),
        _finance_client().get(reverse("admin:claims_providerstatement_xlsx", args=[statement.pk])),
    ):
        workbook = load_workbook(BytesIO(response.content))
        summary = dict(zip(*[[cell.value for cell in row] for row in workbook.worksheets[0].iter_rows()], strict=True))
        assert summary["应付金额（大写）"] == "壹拾贰元伍角整"
        listing = [[cell.value for cell in row] for row in workbook["结算记录"].iter_rows()]
        heading, rows = listing[0], listing[1:]
        assert heading[:2] == ["结算编号", "机构交易流水号"] and heading[-1] == "计入本清算单"
        assert sorted(row[1] for row in rows) == ["MINE-1", "MINE-2"]  # never another provider's
        assert {row[5] for row in rows} == {"已结算"}
        assert sum(Decimal(str(row[heading.index("统筹基金支付")])) for row in rows) == statement.fund


def _finance_client():
    client = Client()
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    return client


def _upload(portal, data: bytes):
    return portal.post(reverse("portal_claims:reconciliations"), {
        "period_from": "2026-03-01", "period_to": "2026-03-31", "count": "2", "total": "13.50", "fund": "12.50",
        "account": "0.00", "cash": "1.00", "settlements_file": SimpleUploadedFile("list.csv", data),
    })


def test_a_settlement_list_saved_by_chinese_excel_in_gbk_is_read(portal, setup):
    csv = "external_ref,total,fund,account,cash,备注\nMINE-1,10.00,10.00,0.00,0.00,门诊\nMINE-2,3.50,2.50,0.00,1.00,复诊\n"
    response = _upload(portal, csv.encode("gbk"))
    assert response.status_code == 302
    assert Reconciliation.objects.get().result == "match"


@pytest.mark.parametrize(("value", "row", "column"), [
    ("NaN", 2, "total"), ("Infinity", 2, "total"), ("-Infinity", 2, "total"), ("1e999", 2, "total"),
    ("sNaN", 2, "total"), ("10.001", 2, "total"), ("99999999999999999999", 2, "total"), ("", 2, "total"),
])
def test_an_amount_that_is_not_finite_yuan_is_refused_naming_row_and_column(portal, setup, value, row, column):
    csv = f"external_ref,total,fund,account,cash\nMINE-1,{value},10.00,0.00,0.00\n"
    response = _upload(portal, csv.encode())
    assert response.status_code == 200
    page = response.content.decode()
    assert f"第{row}行 {column} 列" in page
    assert not Reconciliation.objects.exists()


@pytest.mark.parametrize("data", [b"\x81\x30\xff\xfe\x00\x01binary", b"settlement_id,total,fund,account,cash\n99999999999999999999999,1,1,0,0\n",
                                  "settlement_id,total,fund,account,cash\n²,1,1,0,0\n".encode()])
def test_a_list_that_is_not_text_or_has_bad_numbers_is_refused_not_a_500(portal, setup, data):
    portal.raise_request_exception = False
    response = _upload(portal, data)
    assert response.status_code == 200
    assert not Reconciliation.objects.exists()


@pytest.mark.parametrize("size", [20_000, 5 * 1024 * 1024])
def test_a_huge_cell_in_the_settlement_list_is_refused_naming_row_and_column(portal, setup, size):
    """Issue 11: the list is read as every import is, each cell within IMPORT_MAX_CELL_CHARS (a
    field over csv's own 131,072 characters too), and the page does not repeat the cell."""
    csv = f"external_ref,total,fund,account,cash\nMINE-1,10.00,10.00,0.00,0.00\nMINE-2,3.50,2.50,{'9' * size},1.00\n"
    response = _upload(portal, csv.encode())
    assert response.status_code == 200
    page = response.content.decode()
    assert "第 3 行，account 列" in page and "IMPORT_MAX_CELL_CHARS" in page
    assert "9" * 200 not in page and len(page) < 100_000
    assert not Reconciliation.objects.exists()


def test_the_admin_reconciliation_page_shows_the_figures_side_by_side_in_words(portal, setup):
    """The provider's figures beside the agency's under the portal's row labels, a row that
    differs highlighted with its difference; the settlements that differ listed, never JSON."""
    import re

    from tests.i18n.scan import codes_in, visible_text

    csv = "external_ref,total,fund,account,cash\nMINE-1,10.00,10.00,0.00,0.00\nMINE-2,3.50,2.50,0.00,0.00\nMINE-9,5.00,5.00,0.00,0.00\n"
    portal.post(reverse("portal_claims:reconciliations"), {
        "period_from": "2026-03-01", "period_to": "2026-03-31", "count": "3", "total": "1013.50", "fund": "12.50",
        "account": "0.00", "cash": "1.00", "settlements_file": SimpleUploadedFile("list.csv", csv.encode()),
    })
    reconciliation = Reconciliation.objects.get()
    mine2 = reconciliation.differences["different_amounts"][0]["settlement_id"]
    client = Client()
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    page = client.get(reverse("admin:claims_reconciliation_change", args=[reconciliation.pk]),
                      HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    rows = re.findall(r"<tr( class=\"reconciliation-differs\")?><th>([^<]+(?:<span class=\"differs-mark\">[^<]*</span>)?)</th><td class=\"money\">([^<]+)</td>"
                      r"<td class=\"money\">([^<]+)</td><td class=\"money\">([^<]+)</td></tr>", page)
    # A row that differs carries the class and the word 不一致 (not colour alone), an equal one neither.
    mark = ' <span class="differs-mark">不一致</span>'
    assert [(bool(marked), label, mine, agency, difference) for marked, label, mine, agency, difference in rows] == [
        (True, "结算笔数" + mark, "3", "2", "+1"),
        (True, "医疗费总额" + mark, "1,013.50", "13.50", "+1,000.00"),
        (False, "统筹基金已支付", "12.50", "12.50", "—"),
        (False, "账户支付（个人账户及家庭共济）", "0.00", "0.00", "—"),
        (False, "个人现金支付", "1.00", "1.00", "—"),
    ]
    assert "机构汇总" in page and "经办机构汇总" in page
    text = " ".join(visible_text(page))
    assert "经办机构无此记录" in text and "MINE-9" in text and "金额不一致" in text
    assert "个人现金支付：0.00 / 1.00" in text
    assert f'href="/admin/claims/claim/{mine2}/change/"' in page
    assert '"count"' not in text and "{" not in text and "different_amounts" not in text
    assert not [found for found in codes_in(page) if found[0] == "identifier"], codes_in(page)


def test_deductions_read_in_words_on_every_statement_page_and_the_title_as_a_person_writes_it(setup, portal):
    """The deduction's source is 智能监控疑点 第N号 (never the code supervision.flag:N) on the
    admin page, the print, the portal page and the XLSX; the admin title names the provider and the month."""
    import datetime

    from claims.models import Deduction

    setup["mine"].name = "枣庄市立医院"
    setup["mine"].save()
    statement = ProviderStatement.objects.get(provider=setup["mine"])
    Deduction.objects.create(provider=setup["mine"], amount=Decimal("1.00"), reason="违规",
                             source_reference="supervision.flag:7", decided_by=UserFactory(roles=[Role.AUDITOR]),
                             decided_on=datetime.date(2026, 3, 31),
                             statement=statement)
    admin = _finance_client()
    pages = [
        admin.get(reverse("admin:claims_providerstatement_change", args=[statement.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"),
        admin.get(reverse("admin:claims_providerstatement_print", args=[statement.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"),
        portal.get(reverse("portal_claims:statement", args=[statement.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"),
        portal.get(reverse("portal_claims:statement_print", args=[statement.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"),
    ]
    for response in pages:
        page = response.content.decode()
        assert "智能监控疑点 第7号" in page
        assert "flag:" not in page
    assert "<title>枣庄市立医院 2026年03月 月度清算单 | " in pages[0].content.decode()
    for response in (admin.get(reverse("admin:claims_providerstatement_xlsx", args=[statement.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"),
                     portal.get(reverse("portal_claims:statement_xlsx", args=[statement.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")):
        rows = list(load_workbook(BytesIO(response.content))["扣款"].values)
        assert rows[0][4] == "来源" and rows[1][4] == "智能监控疑点 第7号"
        assert not any("flag:" in str(value) for row in rows for value in row)
