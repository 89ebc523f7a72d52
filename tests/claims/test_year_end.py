"""The year-end settlement (年度清算) of a provider paid against a budget, over the year of
generated settlements of test_payment_methods_statements: budget against actual (Yangzhou 三(二)
总额预算), an overrun shared and an underrun partly kept (the terms' parameters), the quality
deposit returned by the credit grade and the assessment (Ziyang 第二十一条(二): 将考核结果与…挂钩),
approved and paid by finance with separated duties (Ziyang 第十九条), printed, exported, audited."""

from decimal import Decimal
from io import BytesIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from openpyxl import load_workbook

from claims.models import ProviderStatement, YearEndSettlement
from claims.statements.services import statement_approve
from claims.statements.tasks import prepare_year_end
from claims.statements.year_end import year_end_approve, year_end_prepare, year_end_record_payment
from core.errors import Conflict, DomainError, DutyConflict
from core.models import AuditEvent
from core.roles import Role
from pharmacies.models import Notification
from supervision.models import ProviderCreditScore
from tests.factories import UserFactory

from .test_payment_methods_statements import YEAR, year  # noqa: F401  (the year of settlements)

D = Decimal


@pytest.fixture
def finance(db):
    return [UserFactory(roles=[Role.FINANCE]) for _ in range(3)]


def approve_year(provider, user):
    for statement in ProviderStatement.objects.filter(provider=provider, month__year=YEAR).order_by("month"):
        statement_approve(statement_id=statement.pk, user=user)


def test_overrun_shared_and_deposit_returned_by_grade_b(year, finance):  # noqa: F811 (the fixture imported above)
    preparer, approver, payer = finance
    approve_year(year["over"], approver)
    ProviderCreditScore.objects.create(provider=year["over"], year=YEAR, score=80, grade="B")

    settlement = year_end_prepare(provider=year["over"], year=YEAR, user=preparer)

    # Budget 12,000; funds against it 14,820 (twelve months of 1,200 and March's 420 beside the
    # negotiated drug, which never counts): an overrun of 2,820, half of it the agency's.
    assert (settlement.months, settlement.budget, settlement.budget_actual) == (12, D("12000.00"), D("14820.00"))
    assert (settlement.overrun, settlement.overrun_agency, settlement.underrun) == (D("2820.00"), D("1410.00"), 0)
    assert (settlement.recognised, settlement.budget_paid, settlement.budget_balance) == (
        D("13410.00"), D("12000.00"), D("1410.00"))
    # Ziyang 第二十一条(二): grade B returns 80% of the 1,200 withheld.
    assert (settlement.credit_grade, settlement.credit_score, settlement.deposit_return_percent) == ("B", 80, D("80.00"))
    assert (settlement.deposit_withheld, settlement.deposit_returned, settlement.deposit_forfeited) == (
        D("1200.00"), D("960.00"), D("240.00"))
    assert settlement.payable == D("2370.00")
    assert AuditEvent.objects.filter(action="year_end.prepare", target_id=str(settlement.pk)).exists()

    # Separated duties: the preparer never approves, the approver never pays.
    with pytest.raises(DutyConflict):
        year_end_approve(settlement_id=settlement.pk, user=preparer)
    year_end_approve(settlement_id=settlement.pk, user=approver)
    with pytest.raises(DutyConflict):
        year_end_record_payment(settlement_id=settlement.pk, payment_reference="BANK-1", user=approver)
    year_end_record_payment(settlement_id=settlement.pk, payment_reference="BANK-1", user=payer)
    settlement.refresh_from_db()
    assert (settlement.status, settlement.paid_by, settlement.payment_reference) == ("paid", payer, "BANK-1")
    # Issue 16: the provider is told of the approval and the payment, with the amounts.
    approved, paid = Notification.objects.filter(provider=year["over"], subject__contains="年度清算").order_by("pk")
    assert approved.subject == f"{YEAR} 年度清算已审核通过"
    assert "应付金额 ¥2,370.00" in approved.body and "返还质量保证金 ¥960.00" in approved.body
    assert paid.subject == f"{YEAR} 年度清算款已拨付" and "¥2,370.00" in paid.body and "BANK-1" in paid.body
    # Frozen: neither a re-preparation nor a change of a figure.
    with pytest.raises(Conflict) as caught:
        year_end_prepare(provider=year["over"], year=YEAR, user=preparer)
    assert caught.value.code == "year_end_frozen"
    settlement.deposit_returned = D("1200.00")
    with pytest.raises(Conflict):
        settlement.save()


def test_underrun_partly_kept_and_deposit_scaled_by_the_assessment(year, finance):  # noqa: F811 (the fixture imported above)
    preparer, approver, _payer = finance
    approve_year(year["under"], approver)
    ProviderCreditScore.objects.create(provider=year["under"], year=YEAR, score=95, grade="A")
    settlement = year_end_prepare(provider=year["under"], year=YEAR, user=preparer, assessment_percent=D("90"))
    # Budget 24,000, actual 18,000: an underrun of 6,000, 40% kept by the provider.
    assert (settlement.underrun, settlement.underrun_retained, settlement.recognised) == (
        D("6000.00"), D("2400.00"), D("20400.00"))
    assert settlement.budget_balance == D("2400.00")
    # Grade A returns 100%, the assessment 90% of that: 1,620 of the 1,800 withheld.
    assert (settlement.deposit_return_percent, settlement.deposit_returned, settlement.payable) == (
        D("90.00"), D("1620.00"), D("4020.00"))


def test_the_deposit_follows_the_credit_score_of_the_year_settled_never_a_later_one(year, finance):  # noqa: F811 (the fixture imported above)
    """Ziyang 第二十一条(二): the year's assessment; a later year's score (computed before the
    settlement is prepared) is not that year's, and with no score for the year nothing returns."""
    preparer, approver, _payer = finance
    approve_year(year["over"], approver)
    ProviderCreditScore.objects.create(provider=year["over"], year=YEAR + 1, score=55, grade="D")
    settlement = year_end_prepare(provider=year["over"], year=YEAR, user=preparer)
    assert (settlement.credit_year, settlement.credit_grade, settlement.deposit_returned) == (None, "", 0)
    ProviderCreditScore.objects.create(provider=year["over"], year=YEAR, score=80, grade="B")
    settlement = year_end_prepare(provider=year["over"], year=YEAR, user=preparer)
    assert (settlement.credit_year, settlement.credit_score, settlement.credit_grade) == (YEAR, 80, "B")
    assert (settlement.deposit_return_percent, settlement.deposit_returned) == (D("80.00"), D("960.00"))


def test_refusals_name_the_reason_and_write_nothing(year, finance):  # noqa: F811 (the fixture imported above)
    preparer, approver, _payer = finance
    # A draft monthly statement could still change: refused, naming the months.
    with pytest.raises(Conflict) as caught:
        year_end_prepare(provider=year["over"], year=YEAR, user=preparer)
    assert caught.value.code == "statements_not_approved" and len(caught.value.details["months"]) == 12
    # A provider without a budget (capitation only) has no year-end settlement.
    with pytest.raises(DomainError) as caught:
        year_end_prepare(provider=year["capitation_1"], year=YEAR, user=preparer)
    assert caught.value.code == "no_budget"
    with pytest.raises(DomainError) as caught:
        year_end_prepare(provider=year["over"], year=2026, user=preparer)
    assert caught.value.code == "year_not_ended"
    with pytest.raises(DomainError) as caught:
        year_end_prepare(provider=year["over"], year=YEAR, user=preparer, assessment_percent=D("120"))
    assert "assessment_percent" in caught.value.details
    assert not YearEndSettlement.objects.exists()
    assert not AuditEvent.objects.filter(action="year_end.prepare").exists()


def test_the_command_and_the_task_prepare_every_budget_provider_and_list_refusals(year, finance):  # noqa: F811 (the fixture imported above)
    approve_year(year["over"], finance[1])  # the underrun provider's statements stay drafts
    result = prepare_year_end(YEAR)
    assert result["prepared"] == [year["over"].code]
    assert result["refused"] == [[year["under"].code, "statements_not_approved"]]
    settlement = YearEndSettlement.objects.get()
    assert settlement.prepared_by is None and settlement.credit_grade == ""  # no score: nothing returned
    assert settlement.deposit_returned == 0 and settlement.payable == D("1410.00")
    approve_year(year["under"], finance[1])
    call_command("prepare_year_end", "--year", str(YEAR), "--user", finance[0].username)
    assert YearEndSettlement.objects.count() == 2
    assert set(YearEndSettlement.objects.values_list("prepared_by", flat=True)) == {finance[0].pk}


def test_admin_pages_prepare_approve_pay_print_and_export(year, finance, client):  # noqa: F811 (the fixture imported above)
    preparer, approver, payer = finance
    for user, (last, first) in zip(finance, [("王", "编制"), ("李", "审批"), ("赵", "出纳")], strict=True):
        user.last_name, user.first_name = last, first
        user.save()
    approve_year(year["over"], approver)
    ProviderCreditScore.objects.create(provider=year["over"], year=YEAR, score=80, grade="B")
    client.force_login(preparer)
    url = reverse("admin:claims_yearendsettlement_prepare")
    assert client.get(url).status_code == 200
    response = client.post(url, {"provider": year["capitation_1"].code, "year": YEAR, "assessment_percent": "100"})
    assert response.status_code == 200 and "没有总额预算" in response.content.decode()
    response = client.post(url, {"provider": "H00000000000", "year": YEAR, "assessment_percent": "100"})
    assert response.status_code == 200 and not YearEndSettlement.objects.exists()
    response = client.post(url, {"provider": year["over"].code, "year": YEAR, "assessment_percent": "100"})
    settlement = YearEndSettlement.objects.get()
    assert response.status_code == 302 and settlement.prepared_by == preparer
    page = client.get(reverse("admin:claims_yearendsettlement_change", args=[settlement.pk])).content.decode()
    assert "2370.00" in page or "2,370.00" in page

    changelist = reverse("admin:claims_yearendsettlement_changelist")
    client.post(changelist, {"action": "approve_selected", "_selected_action": [settlement.pk]})
    settlement.refresh_from_db()
    assert settlement.status == "draft"  # the preparer may not approve
    client.force_login(approver)
    client.post(changelist, {"action": "approve_selected", "_selected_action": [settlement.pk]})
    settlement.refresh_from_db()
    assert (settlement.status, settlement.approved_by) == ("approved", approver)

    client.force_login(payer)
    pay = reverse("admin:claims_yearendsettlement_pay", args=[settlement.pk])
    assert client.get(pay).status_code == 200
    response = client.post(pay, {"payment_reference": "BANK-2025-1"})
    assert response.status_code == 302
    settlement.refresh_from_db()
    assert (settlement.status, settlement.payment_reference) == ("paid", "BANK-2025-1")

    # The change page names who prepared, approved and paid as the print does, never usernames.
    page = client.get(reverse("admin:claims_yearendsettlement_change", args=[settlement.pk]),
                      HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "编制人" in page and "审批人" in page and "支付登记人" in page
    assert "王编制" in page and "李审批" in page and "赵出纳" in page
    # The title as a person writes it (the provider by name and the year), not "<pk> <year>".
    assert f"<title>{year['over'].name} {YEAR}年度清算 | " in page
    assert not any(f">{user.username}<" in page or f"{user.username}</" in page for user in finance)

    printed = client.get(reverse("admin:claims_yearendsettlement_print", args=[settlement.pk])).content.decode()
    assert "年度清算" in printed and "贰仟叁佰柒拾元整" in printed and "超支" in printed
    # Chinese labels take the full-width colon: 应付金额（大写）：人民币 …, 制表人：王编制.
    assert "应付金额（大写）：人民币 贰仟叁佰柒拾元整" in printed and "制表人：王编制" in printed
    assert "）: " not in printed and "人: " not in printed
    workbook = load_workbook(BytesIO(client.get(reverse("admin:claims_yearendsettlement_xlsx", args=[settlement.pk])).content))
    header, values = list(workbook.worksheets[0].values)
    row = dict(zip(header, values, strict=True))
    assert row["返还保证金"] == 960 and row["应拨付金额（预算结算差额＋返还保证金）"] == 2370
    response = client.post(changelist, {"action": "export_xlsx", "_selected_action": [settlement.pk]})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")
