"""A flag goes from raised to a deduction on the provider's statement through the review
workflow; the second reviewer is never the first (Ziyang 第十九条, 不相容岗位分离)."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from core.errors import DomainError
from core.models import AuditEvent
from core.roles import Role
from supervision.models import Flag, FlagTransition, MemberCreditRecord, Rule
from supervision.monitoring import monitoring_run
from supervision.services import (
    flag_appeal,
    flag_confirm,
    flag_decide_appeal,
    flag_deduct,
    flag_dismiss,
    flag_first_review,
    flag_second_review,
)
from tests.factories import ProviderStaffFactory, UserFactory
from tests.supervision.helpers import claim, item, member, pharmacy

pytestmark = pytest.mark.django_db
DAY = date(2024, 3, 8)


@pytest.fixture
def raised():
    """A pharmacy sold a drug above the platform price (Ziyang 第二十一条): one flag."""
    shop = pharmacy()
    claim(member(), DAY, [(item("DRUG-P", platform_price="10.00"), 5, "12.00")], provider=shop)
    monitoring_run(date_from=DAY, date_to=DAY, codes=["price_above_platform"])
    return Flag.objects.get()


def refused(call, code):
    with pytest.raises(DomainError) as error:
        call()
    assert error.value.code == code


def test_a_flag_goes_from_raised_to_a_deduction_with_two_reviewers_and_an_appeal(raised, auditors, deductions, client):
    first, second, third = auditors
    assert (raised.status, raised.amount_at_stake) == ("new", Decimal("10.00"))

    flag_first_review(flag=raised, user=first, opinion="价格高于挂网价")
    # The first reviewer may not also decide the second review: refused, nothing written.
    refused(lambda: flag_confirm(flag=raised, user=first, amount="10.00", note="复审意见"), "separated_duties")
    raised.refresh_from_db()
    assert (raised.status, raised.second_reviewer, raised.transitions.count()) == ("first_reviewed", None, 2)

    flag_confirm(flag=raised, user=second, amount="8.50", today=DAY, note="复审意见")
    raised.refresh_from_db()
    assert (raised.status, raised.confirmed_amount, raised.appeal_deadline) == ("confirmed", Decimal("8.50"), DAY + timedelta(days=15))

    # The provider appeals in the portal.
    staff = ProviderStaffFactory(provider=raised.provider).user
    client.force_login(staff)
    page = client.get(f"/portal/flags/{raised.pk}/")
    assert page.status_code == 200 and "8.50" in page.content.decode()
    raised.appeal_deadline = date.today() + timedelta(days=1)  # the window is measured from today in the portal
    raised.save(update_fields=["appeal_deadline"])
    client.post(f"/portal/flags/{raised.pk}/appeal/", {"reason": "按挂网价结算"})
    raised.refresh_from_db()
    assert (raised.status, raised.appeal_reason) == ("appealed", "按挂网价结算")

    # The one who confirmed may not decide the appeal.
    refused(lambda: flag_decide_appeal(flag=raised, user=second, upheld=False, note="复审意见"), "separated_duties")
    flag_decide_appeal(flag=raised, user=third, upheld=False, amount="6.00", note="部分采纳")
    flag_deduct(flag=raised, user=third)
    raised.refresh_from_db()
    assert raised.status == "deducted"
    assert deductions == [{"provider": raised.provider, "amount": Decimal("6.00"), "reason": deductions[0]["reason"],
                           "source_reference": f"supervision.flag:{raised.pk}", "user": third}]
    assert raised.deduction_reference
    assert MemberCreditRecord.objects.get().member_id == raised.member_id
    assert list(FlagTransition.objects.filter(flag=raised).values_list("action", flat=True)) == [
        "raise", "first_review", "confirm", "appeal", "appeal_rejected", "deduct"]
    assert AuditEvent.objects.filter(action__startswith="supervision.flag.").count() == 5

    # The deduction waits for the provider's next monthly statement (claims' close_month puts it
    # there once the month has ended).
    from claims.models import Deduction

    deduction = Deduction.objects.get(source_reference=f"supervision.flag:{raised.pk}")
    assert (deduction.provider, deduction.amount, deduction.statement) == (raised.provider, Decimal("6.00"), None)
    assert raised.deduction_reference == str(deduction.pk)

    # Once the month has ended, close_month puts it on the provider's statement, less payable.
    from unittest import mock

    from claims.statements.services import statement_close_month

    month = deduction.decided_on.replace(day=1)
    early_next_month = (month + timedelta(days=32)).replace(day=2)
    with mock.patch("claims.statements.services.timezone.localdate", return_value=early_next_month):
        statement_close_month(month=month, user=first)
    deduction.refresh_from_db()
    statement = deduction.statement
    assert (statement.provider, statement.deductions_total, statement.payable) == (
        raised.provider, Decimal("6.00"), Decimal("-6.00"))


def test_the_deduction_waits_for_the_appeal_window(raised, auditors, deductions):
    first, second, _third = auditors
    flag_first_review(flag=raised, user=first, opinion="初审：证据充分")
    flag_second_review(flag=raised, user=second, violation=True, today=DAY, note="复审意见")  # the amount at stake
    refused(lambda: flag_deduct(flag=raised, user=second, today=DAY + timedelta(days=15)), "appeal_window_open")
    assert deductions == []
    flag_deduct(flag=raised, user=second, today=DAY + timedelta(days=16))
    assert deductions[0]["amount"] == Decimal("10.00")


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CASE_WORKER, Role.ADMINISTRATOR])
def test_only_an_auditor_deducts(raised, auditors, deductions, role):
    """The deduction carries out the auditors' decision (稽核); finance approves the statement it
    lands on and never adds to it (the admin offers the action to 稽核 only, the same check)."""
    first, second, third = auditors
    flag_first_review(flag=raised, user=first, opinion="初审：证据充分")
    flag_confirm(flag=raised, user=second, amount="10.00", today=DAY, note="复审意见")
    after_window = DAY + timedelta(days=16)
    events = AuditEvent.objects.count()
    refused(lambda: flag_deduct(flag=raised, user=UserFactory(roles=[role]), today=after_window), "forbidden")
    raised.refresh_from_db()
    assert (raised.status, raised.deduction_reference, raised.transitions.count()) == ("confirmed", "", 3)
    assert deductions == [] and not MemberCreditRecord.objects.exists()
    assert AuditEvent.objects.count() == events
    flag_deduct(flag=raised, user=third, today=after_window)
    raised.refresh_from_db()
    assert raised.status == "deducted" and deductions[0]["amount"] == Decimal("10.00")


def test_an_appeal_after_the_deadline_or_by_another_provider_is_refused(raised, auditors):
    first, second, _third = auditors
    flag_first_review(flag=raised, user=first, opinion="初审：证据充分")
    flag_confirm(flag=raised, user=second, amount="10.00", today=DAY, note="复审意见")
    own = ProviderStaffFactory(provider=raised.provider).user
    other = ProviderStaffFactory().user
    refused(lambda: flag_appeal(flag=raised, user=other, reason="x", today=DAY), "forbidden")
    refused(lambda: flag_appeal(flag=raised, user=own, reason="x", today=DAY + timedelta(days=16)), "appeal_closed")
    raised.refresh_from_db()
    assert raised.status == "confirmed"


def test_an_upheld_appeal_and_a_dismissal_end_without_a_deduction(auditors, deductions):
    first, second, third = auditors
    shop = pharmacy()
    listed = item("DRUG-P", platform_price="10.00")
    claim(member(), DAY, [(listed, 1, "12.00")], provider=shop)
    claim(member(), DAY, [(listed, 1, "13.00")], provider=shop)
    monitoring_run(date_from=DAY, date_to=DAY, codes=["price_above_platform"])
    one, two = Flag.objects.order_by("pk")
    for flag in (one, two):
        flag_first_review(flag=flag, user=first, opinion="初审：证据充分")
    flag_dismiss(flag=one, user=second, note="价格已调整")
    flag_confirm(flag=two, user=second, amount="3.00", today=date.today(), note="复审意见")
    flag_appeal(flag=two, user=ProviderStaffFactory(provider=shop).user, reason="挂网价已上调")
    flag_decide_appeal(flag=two, user=third, upheld=True, note="复审意见")
    assert set(Flag.objects.values_list("status", flat=True)) == {"dismissed"}
    refused(lambda: flag_deduct(flag=two, user=third), "flag_wrong_state")
    assert deductions == [] and not MemberCreditRecord.objects.exists()


def test_only_auditors_review(raised):
    worker = UserFactory(roles=[Role.CASE_WORKER])
    refused(lambda: flag_first_review(flag=raised, user=worker, opinion="初审：证据充分"), "forbidden")
    assert Flag.objects.get().status == "new"


def test_the_appeal_window_is_a_rule_parameter(raised, auditors):
    rule = Rule.objects.get(code="price_above_platform")
    rule.parameters = {"appeal_days": 30}
    rule.save()
    flag_first_review(flag=raised, user=auditors[0], opinion="初审：证据充分")
    flag_confirm(flag=raised, user=auditors[1], amount="1.00", today=DAY, note="复审意见")
    raised.refresh_from_db()
    assert raised.appeal_deadline == DAY + timedelta(days=30)


def _step(client, flag, **data):
    return client.post(f"/admin/supervision/flag/{flag.pk}/step/", data, follow=True)


def test_the_flag_is_worked_as_a_case_on_its_own_page(raised, auditors, client):
    """Issue 16: each step on the flag's page asks the auditor's words; the reviewer sets the
    amount (the rule's suggestion shown); the same auditor never takes the second step."""
    first, second, third = auditors
    client.force_login(first)
    page = client.get(f"/admin/supervision/flag/{raised.pk}/step/").content.decode()
    assert "初审" in page and "价格" in page  # the rule's name and the evidence in words
    empty = _step(client, raised, opinion="   ")
    assert empty.context["form"].errors["opinion"]
    raised.refresh_from_db()
    assert raised.status == "new" and raised.transitions.count() == 1
    _step(client, raised, opinion="药店售价高于挂网价，证据充分")
    raised.refresh_from_db()
    assert (raised.status, raised.first_opinion) == ("first_reviewed", "药店售价高于挂网价，证据充分")

    refused_page = _step(client, raised, decision="confirm", amount="4.00", note="同意")  # the same auditor
    raised.refresh_from_db()
    assert raised.status == "first_reviewed" and refused_page.context["form"].non_field_errors()

    client.force_login(second)
    suggestion = client.get(f"/admin/supervision/flag/{raised.pk}/step/").content.decode()
    assert "10.00" in suggestion  # the rule's suggestion: the amount at stake
    missing = _step(client, raised, decision="confirm", note="违规属实")
    assert missing.context["form"].errors["amount"]
    _step(client, raised, decision="confirm", amount="4.00", note="违规属实，按差价扣回")
    raised.refresh_from_db()
    assert (raised.status, raised.confirmed_amount) == ("confirmed", Decimal("4.00"))
    history = client.get(f"/admin/supervision/flag/{raised.pk}/change/").content.decode()
    assert "违规属实，按差价扣回" in history and "确认违规" in history and "疑点初审" in history
    # The history's columns say what they hold: states, not a date range's 起始日期/截止日期.
    headings = re.findall(r'<th class="column-[a-z_]+">\s*([^<]+?)\s*<', history)
    assert headings == ["时间", "步骤", "原状态", "新状态", "操作人", "备注"]
    from tests.i18n.scan import codes_in

    assert not [found for found in codes_in(history) if found[0] == "identifier"]


def test_the_appeal_is_decided_with_reasons_by_a_third_auditor(raised, auditors, client):
    first, second, third = auditors
    flag_first_review(flag=raised, user=first, opinion="初审意见")
    flag_confirm(flag=raised, user=second, amount="10.00", note="复审意见", today=date.today())
    flag_appeal(flag=raised, user=ProviderStaffFactory(provider=raised.provider).user, reason="挂网价已调整")
    for who in (first, second):
        client.force_login(who)
        _step(client, raised, decision="upheld", note="同意申诉")
        raised.refresh_from_db()
        assert raised.status == "appealed"
    client.force_login(third)
    no_reason = _step(client, raised, decision="rejected", note="")
    assert no_reason.context["form"].errors["note"]
    _step(client, raised, decision="rejected", amount="6.00", note="部分采纳：按调整后的价格计算")
    raised.refresh_from_db()
    assert (raised.status, raised.confirmed_amount, raised.appeal_decision) == (
        "confirmed", Decimal("6.00"), "部分采纳：按调整后的价格计算")


@pytest.mark.parametrize("step", ["first_review", "confirm", "dismiss", "appeal_decision"])
def test_every_step_needs_the_reviewers_own_words_and_writes_nothing_without(raised, auditors, step):
    """Issue 16: a required opinion at each step, never a stock phrase; nothing written without one."""
    first, second, third = auditors
    if step != "first_review":
        flag_first_review(flag=raised, user=first, opinion="初审意见")
    if step == "appeal_decision":
        flag_confirm(flag=raised, user=second, amount="5.00", note="复审意见", today=date.today())
        flag_appeal(flag=raised, user=ProviderStaffFactory(provider=raised.provider).user, reason="申诉理由")
    raised.refresh_from_db()
    before = (raised.status, raised.transitions.count())
    calls = {
        "first_review": lambda: flag_first_review(flag=raised, user=first, opinion="  "),
        "confirm": lambda: flag_confirm(flag=raised, user=second, amount="5.00", note=""),
        "dismiss": lambda: flag_dismiss(flag=raised, user=second, note=""),
        "appeal_decision": lambda: flag_decide_appeal(flag=raised, user=third, upheld=True, note=""),
    }
    refused(calls[step], "opinion_required")
    raised.refresh_from_db()
    assert (raised.status, raised.transitions.count()) == before


def test_the_first_reviewer_never_decides_the_appeal(raised, auditors):
    """Ziyang 第十九条: the appeal is decided by someone who did not review the flag first."""
    first, second, _third = auditors
    flag_first_review(flag=raised, user=first, opinion="初审意见")
    flag_confirm(flag=raised, user=second, amount="5.00", note="复审意见", today=date.today())
    flag_appeal(flag=raised, user=ProviderStaffFactory(provider=raised.provider).user, reason="申诉理由")
    refused(lambda: flag_decide_appeal(flag=raised, user=first, upheld=True, note="维持"), "separated_duties")
    raised.refresh_from_db()
    assert raised.status == "appealed"


def test_the_portal_shows_the_providers_own_transaction_numbers_and_a_chinese_history(raised, auditors, client):
    """Issue 16: the provider reads its own transaction numbers (not agency ids) and the steps in words."""
    from claims.models import Claim
    from tests.i18n.scan import codes_in

    flag_first_review(flag=raised, user=auditors[0], opinion="初审意见")
    flag_confirm(flag=raised, user=auditors[1], amount="10.00", note="复审意见", today=date.today())
    claim = Claim.objects.get(pk=raised.evidence["claims"][0])
    client.force_login(ProviderStaffFactory(provider=raised.provider).user)
    page = client.get(f"/portal/flags/{raised.pk}/").content.decode()
    assert claim.external_ref in page and f"/portal/settlements/{claim.pk}/" in page
    assert "疑点初审" in page and "确认违规" in page and "智能监控发现" in page
    assert not [found for found in codes_in(page) if found[0] == "identifier"]
    reconciliation = client.get("/portal/reconciliations/").content.decode()
    assert "按结算日期" in reconciliation
