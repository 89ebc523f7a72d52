"""The monthly statement applies the agreement's payment methods, over a year of generated
settlements (2025): a budget overrun and an underrun with the deposit withheld (Yangzhou 三(二)
总额预算), capitation with members moving between providers mid-year (Ziyang 第二十二条,
Jinan (十六) 按人头), per disease with a reversal (Zaozhuang 第十六条 按病种), a separately paid
negotiated drug outside the budget (Jinan (十六), Yangzhou 三(三) 单独支付), and a provider paid per
item whose statement is exactly what it was."""

import re
from datetime import date
from decimal import Decimal
from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook

from claims.chronic_models import ChronicClaim, ChronicRegistration, ChronicYear, Disease
from claims.models import CatalogItem, ClaimLine, ProviderStatement
from claims.statements import exports
from claims.statements.services import statement_close_month
from core.errors import Conflict
from core.roles import Role
from members.services import primary_care_register
from pharmacies.models import Agreement
from pharmacies.services import payment_terms_set
from tests.factories import MemberFactory, ProviderFactory, ProviderStaffFactory, UserFactory

from .statement_helpers import local, settled_claim

D = Decimal
YEAR = 2025
MONTHS = [date(YEAR, month, 1) for month in range(1, 13)]


def agreement_with(provider, user, **terms):
    agreement = Agreement.objects.create(
        provider=provider, period_from=date(YEAR, 1, 1), period_to=date(YEAR + 1, 12, 31),
        payment_method=Agreement.PaymentMethod.PER_ITEM, outpatient_pooling=True, status=Agreement.Status.ACTIVE,
        signed_by=user,
    )
    if terms:
        payment_terms_set(agreement=agreement, year=YEAR, values=terms, actor=user)
    return agreement


def chronic_claim(provider, disease, settled_at, fund, reversed_at=None):
    claim = settled_claim(provider=provider, settled_at=settled_at, fund=fund, reversed_at=reversed_at)
    claim.benefit = "chronic_special"
    claim.save(update_fields=["benefit"])
    registration = ChronicRegistration.objects.create(member=claim.member, disease=disease, valid_from=date(YEAR, 1, 1))
    tally = ChronicYear.objects.create(member=claim.member, year=YEAR, tally="chronic")
    ChronicClaim.objects.create(claim=claim, disease=disease, registration=registration, tally=tally)
    return claim


@pytest.fixture
def year(region, catalog):
    region("zaozhuang")
    case_worker = UserFactory(roles=[Role.CASE_WORKER])
    per_item, over, under = ProviderFactory(), ProviderFactory(), ProviderFactory()
    capitation_1, capitation_2, per_disease = ProviderFactory(), ProviderFactory(), ProviderFactory()
    agreement_with(per_item, case_worker)
    budget = {"budget": True, "deposit_percent": "10", "overrun_provider_percent": "50",
              "underrun_retained_percent": "40", "deposit_return_percent": {"A": "100", "B": "80", "C": "50"}}
    agreement_with(over, case_worker, **budget, budget_amount="12000.00")
    agreement_with(under, case_worker, **budget, budget_amount="24000.00")
    agreement_with(capitation_1, case_worker, capitation=True, capitation_rate="10.00")
    agreement_with(capitation_2, case_worker, capitation=True, capitation_rate="12.00")
    agreement_with(per_disease, case_worker, per_disease=True, disease_standards={"I10": "150.00"})
    drug = CatalogItem.objects.create(code="NEGOTIATED", name="谈判药", kind="drug", item_class="B",
                                      prepay_percent=D("0"), separately_paid=True)
    hypertension = Disease.objects.create(region="zaozhuang", code="I10", name="高血压", group="chronic")
    diabetes = Disease.objects.create(region="zaozhuang", code="E11", name="糖尿病", group="chronic")

    for month in range(1, 13):
        settled_claim(provider=per_item, settled_at=local(YEAR, month, 10), fund="100.00", account="20.00", cash="5.00")
        settled_claim(provider=over, settled_at=local(YEAR, month, 10), fund="1200.00", account="30.00")
        settled_claim(provider=under, settled_at=local(YEAR, month, 11), fund="1500.00")
        chronic_claim(per_disease, hypertension, local(YEAR, month, 12), "90.00")
    # March at the overrun provider: a settlement with a negotiated drug. total 1,000, fund 700,
    # the drug's policy scope 400 of 1,000: its funds' share is 280, outside the budget.
    claim = settled_claim(provider=over, settled_at=local(YEAR, 3, 20), fund="700.00", cash="300.00")
    ClaimLine.objects.create(claim=claim, position=1, catalog_item=drug, quantity=1, unit_price=D("400.00"),
                             amount=D("400.00"), fully_self_paid=0, over_limit=0, class_b_prepay=0, policy_scope=D("400.00"))
    # Per disease: an E11 case (no standard: per item), and an I10 case of May reversed in June.
    chronic_claim(per_disease, diabetes, local(YEAR, 5, 13), "70.00")
    chronic_claim(per_disease, hypertension, local(YEAR, 5, 14), "80.00", reversed_at=local(YEAR, 6, 2))
    # Capitation: five members with the first provider from January; two move to the second on
    # 15 July (counted there from August: the month's first day decides).
    members = [MemberFactory() for _ in range(5)]
    for member in members:
        primary_care_register(member=member, provider=capitation_1, valid_from=date(YEAR, 1, 1))
    for member in members[3:]:
        primary_care_register(member=member, provider=capitation_2, valid_from=date(YEAR, 7, 15))
    # An outpatient visit at the capitation provider is not paid per item (capitation covers it).
    settled_claim(provider=capitation_1, settled_at=local(YEAR, 2, 3), fund="50.00", account="8.00")
    for month in MONTHS:
        statement_close_month(month=month)
    return {"per_item": per_item, "over": over, "under": under, "capitation_1": capitation_1,
            "capitation_2": capitation_2, "per_disease": per_disease}


def statements(provider):
    return {s.month.month: s for s in ProviderStatement.objects.filter(provider=provider)}


def test_per_item_provider_statement_is_unchanged(year):
    for statement in statements(year["per_item"]).values():
        assert statement.payment_methods == ""
        assert (statement.fund, statement.account, statement.payable) == (D("100.00"), D("20.00"), D("120.00"))
        assert (statement.per_item_fund, statement.budget_paid, statement.separately_paid) == (0, 0, 0)
    with translation.override("zh-hans"):
        labels = [label for label, _value in exports.statement_rows(statements(year["per_item"])[1])]
    assert "总额预算内支付" not in labels


def test_budget_overrun_months_pay_the_share_less_the_deposit_and_the_drug_outside_yangzhou_3_2(year):
    months = statements(year["over"])
    january = months[1]
    assert january.payment_methods == "budget"
    # 1,200 of funds against a share of 1,000: 1,000 paid, 100 withheld, the 200 waits for year end.
    assert (january.budget_actual, january.budget_share, january.budget_paid, january.deposit_withheld) == (
        D("1200.00"), D("1000.00"), D("1000.00"), D("100.00"))
    assert january.payable == D("930.00")  # 1,000 − 100 + the account's 30
    march = months[3]
    # Jinan (十六): the drug's 280 never counts against the budget; the rest of that visit (420) does.
    assert (march.separately_paid, march.budget_actual) == (D("280.00"), D("1620.00"))
    assert march.fund == D("1900.00")  # the statement's funds are still every fund paid
    assert march.payable == D("1000.00") - D("100.00") + D("280.00") + D("30.00")
    assert sum(s.budget_actual for s in months.values()) == D("14820.00")
    assert sum(s.deposit_withheld for s in months.values()) == D("1200.00")


def test_budget_underrun_months_pay_all_less_the_deposit(year):
    months = statements(year["under"])
    assert len(months) == 12
    for statement in months.values():
        assert (statement.budget_share, statement.budget_paid, statement.deposit_withheld, statement.payable) == (
            D("2000.00"), D("1500.00"), D("150.00"), D("1350.00"))


def test_capitation_counts_members_registered_on_the_months_first_day_ziyang_22(year):
    first, second = statements(year["capitation_1"]), statements(year["capitation_2"])
    assert [first[m].capitation_members for m in range(1, 13)] == [5] * 7 + [3] * 5
    assert first[2].capitation_amount == D("50.00") and first[8].capitation_amount == D("30.00")
    # February's visit (fund 50) is covered by capitation; the account's 8 is still paid.
    assert (first[2].per_item_fund, first[2].payable) == (0, D("58.00"))
    # The second provider had no settlement at all: statements from August, for its two members.
    assert sorted(second) == [8, 9, 10, 11, 12]
    assert {(s.capitation_members, s.capitation_amount, s.payable) for s in second.values()} == {(2, D("24.00"), D("24.00"))}


def test_per_disease_pays_the_standard_per_case_and_takes_a_reversed_case_back_zaozhuang_16(year):
    months = statements(year["per_disease"])
    assert (months[1].per_disease_cases, months[1].per_disease_amount, months[1].payable) == (1, D("150.00"), D("150.00"))
    may = months[5]
    # Two I10 cases (the later one reversed in June), one E11 case paid per item (no standard).
    assert (may.per_disease_cases, may.per_disease_amount, may.per_item_fund) == (2, D("300.00"), D("70.00"))
    assert may.per_disease_detail == {"I10": [2, "300.00"]}
    assert may.payable == D("370.00")
    june = months[6]
    assert (june.per_disease_cases, june.per_disease_amount, june.payable) == (0, D("0.00"), D("0.00"))


def test_the_method_lines_are_on_the_admin_page_print_xlsx_and_portal(year, client):
    statement = statements(year["over"])[3]
    with translation.override("zh-hans"):
        rows = dict(exports.statement_rows(statement))
    assert rows["支付方式"] == "总额预算"
    assert rows["总额预算内支付"] == D("1000.00")
    assert rows["质量保证金预留"] == D("-100.00")
    assert rows["单独支付药品"] == D("280.00")
    assert rows["应拨付金额（各项基金＋账户－扣款）"] == D("1210.00")

    client.force_login(UserFactory(roles=[Role.FINANCE]))
    page = client.get(reverse("admin:claims_providerstatement_change", args=[statement.pk])).content.decode()
    assert "总额预算内支付" in page and "质量保证金预留" in page and "单独支付药品" in page
    # The method in words, never its key (issue 16).
    assert re.search(r"支付方式:</label>\s*<div class=\"readonly\">总额预算</div>", page)
    assert ">budget<" not in page
    assert re.search(r"月份:</label>\s*<div class=\"readonly\">2025年03月</div>", page)  # a month, not its first day
    printed = client.get(reverse("admin:claims_providerstatement_print", args=[statement.pk])).content.decode()
    assert "总额预算内支付" in printed and "壹仟贰佰壹拾元整" in printed  # the payable in capitals
    # An export of a per-item and a budget statement: one header row, the methods' columns in it.
    per_item = statements(year["per_item"])[3]
    response = client.post(reverse("admin:claims_providerstatement_changelist"), {
        "action": "export_xlsx", "_selected_action": [per_item.pk, statement.pk]})
    sheet = load_workbook(BytesIO(response.content)).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    by_provider = {row[0]: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert by_provider[statement.payee]["总额预算内支付"] == 1000
    assert by_provider[per_item.payee]["总额预算内支付"] == 0
    assert by_provider[per_item.payee]["应拨付金额（各项基金＋账户－扣款）"] == 120

    portal = Client()
    portal.force_login(ProviderStaffFactory(provider=year["over"]).user)
    detail = portal.get(reverse("portal_claims:statement", args=[statement.pk])).content.decode()
    assert "总额预算内支付" in detail and "1210.00" in detail
    workbook = load_workbook(BytesIO(portal.get(reverse("portal_claims:statement_xlsx", args=[statement.pk])).content))
    assert "单独支付药品" in [cell.value for cell in workbook.worksheets[0][1]]


def test_every_money_line_of_the_portal_print_has_two_decimals(year):
    """A money line reads 0.00, never 0 (a benefit without settlements included); only counts
    (笔数, 人数, 例数, 结算记录) are whole numbers (issue 16)."""
    portal = Client()
    portal.force_login(ProviderStaffFactory(provider=year["capitation_1"]).user)
    statement = statements(year["capitation_1"])[3]
    page = portal.get(reverse("portal_claims:statement_print", args=[statement.pk]),
                      HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    lines = re.findall(r"<tr><th>(.*?)</th><td class=\"money\">(.*?)</td></tr>", page)
    numbers = [(label, value) for label, value in lines if re.fullmatch(r"-?\d+(\.\d+)?", value)]
    whole = [(label, value) for label, value in numbers if "." not in value]
    assert whole and all(re.search("笔数|人数|例数|^结算记录$", label) for label, _value in whole), whole
    money = [(label, value) for label, value in numbers if "." in value]
    assert all(re.fullmatch(r"-?\d+\.\d\d", value) for _label, value in money), money
    assert ("门诊慢特病：基金支付（扣除撤销）", "0.00") in money and ("按人头付费", "50.00") in money
    # Chinese labels take the full-width colon (门诊慢特病：结算笔数), never the ASCII one.
    assert [label for label, _value in lines if ":" in label] == []
    assert ("门诊慢特病：结算笔数", "0") in whole
    assert "应付金额（大写）：人民币 " in page and "机构盖章：________" in page and "）: " not in page
    english = portal.get(reverse("portal_claims:statement_print", args=[statement.pk]),
                         HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Amount payable (in capitals): RMB " in english and "seal: ________" in english


def test_an_approved_statements_method_lines_never_change(year):
    statement = statements(year["over"])[3]
    statement.status, statement.approved_by, statement.approved_at = "approved", UserFactory(), statement.generated_at
    statement.save()
    statement.deposit_withheld = D("0.00")
    with pytest.raises(Conflict) as caught:
        statement.save()
    assert caught.value.details["fields"] == ["deposit_withheld"]
    # Closing the month again keeps the approved statement as it was.
    statement_close_month(month=MONTHS[2])
    statement.refresh_from_db()
    assert statement.deposit_withheld == D("100.00")
