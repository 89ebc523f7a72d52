"""The workbench (工作台) on the admin index: each role sees what waits for it, counted and
linked; never a step the person may not take (their own proposal, their own first review,
the statement they generated or approved)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from claims.models import ProviderStatement
from core.roles import Role
from members.models import AccountDecision, PersonalAccount
from pharmacies.models import Application
from supervision.models import Flag, Rule
from tests.factories import MemberFactory, ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db

INDEX = reverse("admin:index")


def _workbench(user) -> dict[str, tuple[int, str]]:
    client = Client()
    client.force_login(user)
    response = client.get(INDEX)
    assert response.status_code == 200
    return {item.label: (item.count, item.url) for item in response.context["todos"]}


def _flag(status, provider, key, **fields):
    return Flag.objects.create(rule=Rule.objects.order_by("pk").first(), item_key=key, day=date(2024, 3, 8),
                               provider=provider, message="m", status=status, **fields)


@pytest.fixture
def waiting():
    provider = ProviderFactory()
    proposer, other_worker = UserFactory(roles=[Role.CASE_WORKER]), UserFactory(roles=[Role.CASE_WORKER])
    reviewer, other_auditor = UserFactory(roles=[Role.AUDITOR]), UserFactory(roles=[Role.AUDITOR])
    approver, payer = UserFactory(roles=[Role.FINANCE]), UserFactory(roles=[Role.FINANCE])
    for _ in range(2):
        account = PersonalAccount.objects.create(member=MemberFactory(), opened_on=date(2023, 1, 1))
        AccountDecision.objects.create(account=account, reason="relocation", destination="济南", proposed_by=proposer)
    Application.objects.create(code="P37040000001", name="仁和大药房", kind="pharmacy", status="submitted", filed_by=proposer)
    _flag(Flag.Status.NEW, provider, "a")
    _flag(Flag.Status.NEW, provider, "b")
    _flag(Flag.Status.FIRST_REVIEWED, provider, "c", first_reviewer=reviewer)
    _flag(Flag.Status.APPEALED, provider, "d", first_reviewer=reviewer)
    today = date.today()
    _flag(Flag.Status.CONFIRMED, provider, "e", confirmed_amount=Decimal("80.00"), confirmed_on=today - timedelta(days=30),
          appeal_deadline=today - timedelta(days=1))
    _flag(Flag.Status.CONFIRMED, provider, "f", confirmed_amount=Decimal("80.00"), confirmed_on=today,
          appeal_deadline=today + timedelta(days=14))  # still appealable: not yet
    now = timezone.now()
    ProviderStatement.objects.create(provider=provider, month=date(2026, 10, 1), generated_at=now)
    ProviderStatement.objects.create(provider=ProviderFactory(), month=date(2026, 10, 1), generated_at=now,
                                     status="approved", approved_by=approver, approved_at=now)
    return locals()


def test_a_case_worker_sees_others_proposals_and_waiting_applications(waiting):
    mine = _workbench(waiting["proposer"])
    assert "待审批的个人账户支取和转移" not in mine  # their own proposals wait for someone else
    theirs = _workbench(waiting["other_worker"])
    count, url = theirs["待审批的个人账户支取和转移"]
    assert count == 2 and url == reverse("admin:members_accountdecision_changelist") + "?status__exact=proposed"
    assert theirs["已提交待受理的申请"][0] == 1
    assert "待初审的疑点" not in theirs  # not a case worker's step


def test_an_auditor_never_sees_the_second_step_of_their_own_first_review(waiting):
    first = _workbench(waiting["reviewer"])
    second = _workbench(waiting["other_auditor"])
    assert first["待初审的疑点"][0] == second["待初审的疑点"][0] == 2
    assert "待复审的疑点" not in first and second["待复审的疑点"][0] == 1
    assert "待裁定的申诉" not in first and second["待裁定的申诉"][0] == 1
    assert second["待扣款的已确认疑点"][0] == 1  # the one past its appeal deadline only


def test_finance_approves_others_statements_and_pays_what_someone_else_approved(waiting):
    approver, payer = _workbench(waiting["approver"]), _workbench(waiting["payer"])
    assert approver["待审核的月度清算单"][0] == 1
    assert "待付款的已审核清算单" not in approver  # 会计 and 出纳 differ
    count, url = payer["待付款的已审核清算单"]
    assert count == 1 and url.endswith("?status__exact=approved")
    # Deducting a confirmed flag is the auditors' step: finance approves the statement it lands on.
    assert "待扣款的已确认疑点" not in payer and "待扣款的已确认疑点" not in approver


def test_every_workbench_link_opens_the_filtered_list(waiting):
    for role_user in ("other_worker", "other_auditor", "payer"):
        client = Client()
        client.force_login(waiting[role_user])
        for item in client.get(INDEX).context["todos"]:
            response = client.get(item.url)
            assert response.status_code == 200, item.url
            # The list shows the whole status (the workbench leaves out what this person may not take).
            assert response.context["cl"].result_count >= item.count > 0, item.url


def test_an_empty_workbench_says_so():
    client = Client()
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    assert "没有等待您处理的事项" in client.get(INDEX).content.decode()
