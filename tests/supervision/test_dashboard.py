"""Issue 16: the supervision dashboard. Summary figures first (fund paid this month and year, per
level; flags open and confirmed; deductions), charts that carry information (no one-slice pie,
"no data" instead of an empty chart), a drill-down from every bar to the admin list behind it
(the list's count and sums are the bar's figures), and the figures as XLSX."""

import re
from datetime import date
from decimal import Decimal
from io import BytesIO

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.utils import translation

from claims.funds import FUNDS, funds_expression
from claims.models import Claim, Deduction
from core.roles import Role
from pharmacies.models import Provider
from supervision.dashboard import dashboard_summary, dashboard_tables, summary_rows
from supervision.models import Flag, Rule
from tests.factories import ProviderFactory, ProviderStaffFactory, UserFactory
from tests.supervision.helpers import claim, member

YEAR = 2025
TODAY = date(2025, 3, 15)
D = Decimal
DASHBOARD = "/admin/supervision/flag/dashboard/"
EXPORT = "/admin/supervision/flag/dashboard/export/"


@pytest.fixture(autouse=True)
def _chinese():
    """The figures' labels as the case worker reads them (pages run in Simplified Chinese)."""
    with translation.override("zh-hans"):
        yield


def settled(provider, day, fund, *, level=None, subsidy="0.00", account="0.00", status=Claim.Status.SETTLED,
            benefit=Claim.Benefit.OUTPATIENT_POOLING):
    record = claim(member(), day, total="500.00", provider=provider, fund=fund, account=account, status=status)
    Claim.objects.filter(pk=record.pk).update(
        provider_level=provider.level if level is None else level, large_expense_subsidy=D(subsidy), benefit=benefit)
    return record


def flag(status, day, key, provider=None, rule="after_death", amount=None):
    return Flag.objects.create(rule=Rule.objects.get(code=rule), item_key=key, day=day, provider=provider, message="m",
                               status=status, confirmed_amount=None if amount is None else D(amount))


@pytest.fixture
def year_of_data(db):
    """Settlements at two levels and a pharmacy, flags in every state, deductions, and rows
    of the year before and reversed settlements, which count nowhere."""
    second = ProviderFactory(level=Provider.Level.LEVEL_2, name="二级医院")
    third = ProviderFactory(level=Provider.Level.LEVEL_3, name="三级医院")
    shop = ProviderFactory(kind=Provider.Kind.PHARMACY, name="药店")
    settled(second, date(2025, 3, 2), "60.00")
    settled(second, date(2025, 3, 20), "40.10", subsidy="10.00")
    settled(third, date(2025, 1, 10), "100.05")
    settled(third, date(2025, 4, 1), "7.00", benefit=Claim.Benefit.CHRONIC_SPECIAL)
    settled(shop, date(2025, 3, 5), "0.00", account="30.00", benefit=Claim.Benefit.PERSONAL_ACCOUNT)
    settled(second, date(2025, 3, 3), "999.00", status=Claim.Status.REVERSED)
    settled(second, date(2024, 12, 31), "500.00")
    statuses = [Flag.Status.NEW, Flag.Status.FIRST_REVIEWED, Flag.Status.APPEALED, Flag.Status.CONFIRMED,
                Flag.Status.DEDUCTED, Flag.Status.DISMISSED]
    for number, status in enumerate(statuses):
        confirmed = status in (Flag.Status.CONFIRMED, Flag.Status.DEDUCTED)
        flag(status, date(2025, 2 + number % 2, 10), f"f{number}", provider=third if confirmed else second,
             rule="price_above_platform" if number < 2 else "after_death", amount="80.00" if confirmed else None)
    flag(Flag.Status.NEW, date(2024, 6, 1), "old", provider=second)
    clerk = get_user_model().objects.get_or_create(username="settlement-clerk")[0]
    for reference, amount, day in [("flag:1", "12.34", date(2025, 2, 1)), ("flag:2", "5.00", date(2025, 11, 30)),
                                   ("flag:3", "99.00", date(2024, 12, 31))]:
        Deduction.objects.create(provider=third, amount=D(amount), reason="r", source_reference=reference,
                                 decided_by=clerk, decided_on=day)
    return {"second": second, "third": third, "shop": shop}


def test_the_summary_figures_of_a_year(year_of_data):
    summary = dashboard_summary(YEAR, TODAY)
    assert summary.month_label == "2025年3月"
    # Settled, visit date in March 2025, every fund (pooled + large-amount subsidy): 60.00 + 40.10 + 10.00.
    assert summary.fund_month == D("110.10")
    assert summary.fund_year == D("217.15")  # + 100.05 + 7.00; the reversed one and 2024's not
    assert [(level.label, level.month, level.year) for level in summary.levels] == [
        ("二级", D("110.10"), D("110.10")), ("三级", D("0.00"), D("107.05")), ("无等级", D("0.00"), D("0.00")),
    ]
    assert (summary.flags_open, summary.flags_confirmed) == (3, 2)  # new, first reviewed, appealed; confirmed, deducted
    assert (summary.deductions_amount, summary.deductions_count) == (D("17.34"), 2)
    rows = dict(summary_rows(summary))
    assert rows["2025年3月基金支付（各项基金）"] == D("110.10")
    assert rows["2025年3月基金支付：三级"] == D("0.00")


def test_this_month_of_a_past_year_is_its_december(year_of_data):
    summary = dashboard_summary(YEAR, date(2026, 12, 3))
    assert summary.month == date(2025, 12, 1) and summary.fund_month == D("0.00")
    assert summary.fund_year == D("217.15")


def _changelist(client, link):
    response = client.get(link)
    assert response.status_code == 200, link
    return response.context_data["cl"]


def test_every_bar_links_to_the_list_behind_it(client, year_of_data):
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    tables = {table.key: table for table in dashboard_tables(YEAR)}
    checked = 0
    for key, money_column, count_column in [("spending_by_month", len(FUNDS) + 2, len(FUNDS) + 3),
                                             ("spending_by_level", 1, 2)]:
        for row, link in zip(tables[key].rows, tables[key].links, strict=True):
            cl = _changelist(client, link)
            assert cl.result_count == row[count_column], (key, row)
            assert cl.queryset.aggregate(paid=Sum(funds_expression()))["paid"] == row[money_column], (key, row)
            checked += 1
    for row, link in zip(tables["spending_by_benefit"].rows, tables["spending_by_benefit"].links, strict=True):
        cl = _changelist(client, link)
        assert (cl.queryset.aggregate(paid=Sum("fund"))["paid"], cl.result_count) == (row[1], row[2])
        checked += 1
    for row, link in zip(tables["top_cost_per_visit"].rows, tables["top_cost_per_visit"].links, strict=True):
        cl = _changelist(client, link)
        assert (cl.result_count, cl.queryset.aggregate(total=Sum("total"))["total"]) == (row[1], row[2])
        checked += 1
    for key in ("flags_by_rule", "flags_by_month", "top_violations"):
        for row, link in zip(tables[key].rows, tables[key].links, strict=True):
            assert _changelist(client, link).result_count == row[1], (key, row)
            checked += 1
    # Three months, levels, benefits and providers; two rules, two months, one provider.
    assert checked == 3 + 3 + 3 + 3 + 2 + 2 + 1
    assert [row[:2] for row in tables["flags_by_rule"].rows] == [
        (Rule.objects.get(code="after_death").title, 4), (Rule.objects.get(code="price_above_platform").title, 2)]
    assert [row[0] for row in tables["spending_by_month"].rows] == ["2025年1月", "2025年3月", "2025年4月"]
    assert tables["top_violations"].rows == ((f"{year_of_data['third'].code} 三级医院", 2, D("160.00")),)


def test_the_summary_links_to_its_lists(client, year_of_data):
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    summary = dashboard_summary(YEAR, TODAY)
    opened = _changelist(client, summary.open_link)
    assert opened.result_count == 3
    # The list says which flags it shows: its "stage" filter is the one chosen.
    assert [spec.value() for spec in opened.filter_specs if getattr(spec, "parameter_name", "") == "stage"] == ["open"]
    assert _changelist(client, summary.confirmed_link).result_count == 2
    assert _changelist(client, summary.deductions_link).result_count == 2
    month = _changelist(client, summary.month_link)
    assert month.queryset.aggregate(paid=Sum(funds_expression()))["paid"] == D("110.10")
    third = next(level for level in summary.levels if level.label == "三级")
    assert _changelist(client, third.year_link).queryset.aggregate(paid=Sum(funds_expression()))["paid"] == D("107.05")


def test_the_page_shows_the_summary_the_tables_and_links_for_every_bar(client, year_of_data):
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    response = client.get(DASHBOARD, {"year": YEAR})
    assert response.status_code == 200
    page = response.content.decode()
    summary = re.search(r'id="dashboard-summary">(.*?)</table>', page, re.S).group(1)
    assert "217.15" in summary and "二级" in summary and "17.34" in summary and "2 笔扣款" in summary
    # Three benefits: a pie; every other chart is drawn too, each over its table of links.
    assert page.count("<canvas") == 7 and "暂无数据" not in page
    for table in response.context_data["tables"]:
        for link in table.links:
            assert f'href="{link.replace("&", "&amp;")}"' in page
    data = response.context_data["data"]
    assert data["flags_by_month"]["counts"] == [3, 3] and len(data["flags_by_month"]["links"]) == 2
    assert 'id="dashboard-export" href="/admin/supervision/flag/dashboard/export/?year=2025"' in page


def test_a_year_without_data_says_so_and_draws_no_chart(client, year_of_data):
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    page = client.get(DASHBOARD, {"year": 2019}).content.decode()
    assert "<canvas" not in page
    assert page.count('<p class="no-data">暂无数据</p>') == 7
    assert 'id="summary-fund-year"' in page and ">0.00</a>" in page


def test_a_pie_of_one_slice_is_written_out_not_drawn(client, db):
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    settled(ProviderFactory(), date(2025, 5, 6), "42.50")
    page = client.get(DASHBOARD, {"year": YEAR}).content.decode()
    assert 'id="chart-spending_by_benefit"' not in page
    assert '<p class="single-figure">门诊统筹：42.50</p>' in page
    assert 'id="chart-spending_by_level"' in page  # a bar of one level still says which level


def test_the_export_holds_the_dashboards_figures(client, year_of_data):
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    response = client.get(EXPORT, {"year": YEAR})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="supervision-dashboard-2025.xlsx"'
    book = openpyxl.load_workbook(BytesIO(response.content))
    summary = book["概览"]
    assert summary["A1"].value == "监管看板" and summary["B1"].value == 2025
    rows = {row[0]: row[1] for row in summary.iter_rows(min_row=2, values_only=True)}
    month = date.today().month if date.today().year == YEAR else 12
    assert D(str(rows["2025年基金支付（各项基金）"])) == D("217.15")
    assert D(str(rows[f"2025年{month}月基金支付（各项基金）"])) == D("0.00")  # today is not in 2025
    assert D(str(rows["2025年基金支付：二级"])) == D("110.10")
    assert rows["2025年疑点待处理（待审核或待申诉裁决）"] == 3 and rows["2025年疑点已确认违规"] == 2
    assert D(str(rows["2025年扣款金额"])) == D("17.34") and rows["2025年扣款笔数"] == 2
    level = book["各级别机构基金支出"]
    assert [cell.value for cell in level[1]] == ["适用机构等级", "各项基金", "结算笔数"]
    assert [(row[0], D(str(row[1])), row[2]) for row in level.iter_rows(min_row=2, values_only=True)] == [
        ("二级", D("110.10"), 2), ("三级", D("107.05"), 2), ("无等级", D("0.00"), 1)]
    assert level["B2"].number_format == "#,##0.00"
    violations = book["确认违规最多的机构"]
    assert list(violations.iter_rows(min_row=2, values_only=True)) == [
        (f"{year_of_data['third'].code} 三级医院", 2, 160)]


def test_the_export_of_an_empty_year_says_no_data(client, db):
    client.force_login(UserFactory(roles=[Role.AUDITOR]))
    book = openpyxl.load_workbook(BytesIO(client.get(EXPORT, {"year": 2019}).content))
    assert book["各月基金支出"]["A2"].value == "暂无数据"


@pytest.mark.django_db
def test_the_export_is_for_whoever_sees_the_dashboard(client):
    assert client.get(EXPORT).status_code == 302  # to the admin's login
    client.force_login(ProviderStaffFactory().user)
    response = client.get(EXPORT)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    staff_without_role = UserFactory()
    staff_without_role.is_staff = True
    staff_without_role.save()
    client.force_login(staff_without_role)
    response = client.get(EXPORT)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    for role in (Role.CASE_WORKER, Role.AUDITOR, Role.FINANCE, Role.ADMINISTRATOR):
        client.force_login(UserFactory(roles=[role]))
        assert client.get(EXPORT).status_code == 200, role


def test_the_figures_take_a_fixed_number_of_queries(year_of_data, django_assert_num_queries):
    """Grouped queries over the year, however many settlements, flags and providers."""
    with django_assert_num_queries(3):  # funds per level (month and year), flags, deductions
        dashboard_summary(YEAR, TODAY)
    with django_assert_num_queries(8):  # seven charts, and the rules' names
        dashboard_tables(YEAR)
