"""A refund to a closed account (a settlement reversed after a withdrawal closed the account)
is never stranded: it is recorded as a late refund, listed in the admin, and paid out the way
the closing decision paid the balance once another case worker approves it."""

from decimal import Decimal

import pytest
from django.contrib import messages
from django.contrib.messages import get_messages
from django.urls import reverse

from core.errors import DomainError
from core.models import AuditEvent
from core.roles import Role
from members.models import LateRefund, LedgerEntry, PersonalAccount
from members.services import account_late_refund_approve, account_withdrawal_approve, account_withdrawal_propose
from tests.factories import ProviderFactory, UserFactory

from .conftest import make_member
from .test_settlement_api import body


@pytest.fixture
def zaozhuang(region, catalog):
    region("zaozhuang")


@pytest.fixture
def api(provider_client, db):
    return provider_client(ProviderFactory(kind="institution", level="level_1"))


@pytest.fixture
def case_workers(db):
    return UserFactory(roles=[Role.CASE_WORKER]), UserFactory(roles=[Role.CASE_WORKER])


def settled_then_closed(api, case_workers):
    member = make_member(balance="500.00")
    settled = api.post("/api/v1/settlements", body(member), format="json").json()
    assert settled["account"] == "230.00"
    account = PersonalAccount.objects.get(member=member)
    decision = account_withdrawal_propose(account=account, reason="relocation", destination="海南省三亚市", user=case_workers[0])
    account_withdrawal_approve(decision=decision, user=case_workers[1])
    account.refresh_from_db()
    assert (account.status, account.balance) == ("closed", Decimal("0.00"))
    return settled, account, decision


def ledger_adds_up(account):
    account.refresh_from_db()
    return account.balance == sum(account.entries.values_list("amount", flat=True), Decimal("0.00"))


def test_a_refund_after_the_account_closed_becomes_a_late_refund_awaiting_approval(zaozhuang, api, case_workers):
    settled, account, decision = settled_then_closed(api, case_workers)
    response = api.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {}, format="json")
    assert response.status_code == 200, response.json()
    refund = LateRefund.objects.get()
    assert (refund.account, refund.amount, refund.status, refund.decision) == (account, Decimal("230.00"), "pending", decision)
    assert refund.entry.kind == LedgerEntry.Kind.SETTLEMENT_REFUND
    assert AuditEvent.objects.filter(action="account.late_refund_record").count() == 1
    # Reversing again records nothing more.
    api.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {}, format="json")
    assert LateRefund.objects.count() == 1
    assert ledger_adds_up(account)


def test_another_case_worker_approves_and_the_refund_is_paid_out_like_the_balance(zaozhuang, api, case_workers):
    settled, account, decision = settled_then_closed(api, case_workers)
    api.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {}, format="json")
    refund = LateRefund.objects.get()
    account_late_refund_approve(refund=refund, user=case_workers[0])
    refund.refresh_from_db()
    assert (refund.status, refund.decided_by) == ("paid", case_workers[0])
    payout = account.entries.get(reference=refund.reference)
    assert (payout.kind, payout.amount, payout.memo) == (LedgerEntry.Kind.WITHDRAWAL, Decimal("-230.00"), "海南省三亚市")
    account.refresh_from_db()
    assert (account.balance, account.status) == (Decimal("0.00"), "closed")
    assert ledger_adds_up(account)
    with pytest.raises(DomainError) as twice:
        account_late_refund_approve(refund=refund, user=case_workers[1])
    assert twice.value.code == "already_decided"
    assert account.entries.filter(reference=refund.reference).count() == 1


def test_only_a_case_worker_other_than_the_reverser_approves(zaozhuang, api, case_workers, provider_client):
    settled, account, _ = settled_then_closed(api, case_workers)
    from claims.services import claim_reverse

    claim_reverse(user=case_workers[0], settlement_id=settled["settlement_id"], reason="退费")
    refund = LateRefund.objects.get()
    with pytest.raises(DomainError) as same_person:
        account_late_refund_approve(refund=refund, user=case_workers[0])
    assert same_person.value.code == "separated_duties"
    with pytest.raises(DomainError) as not_case_worker:
        account_late_refund_approve(refund=refund, user=UserFactory(roles=[Role.FINANCE]))
    assert not_case_worker.value.code == "forbidden"
    refund.refresh_from_db()
    assert refund.status == "pending"
    account.refresh_from_db()
    assert account.balance == Decimal("230.00")  # held for the payout, listed, not lost


def test_the_admin_lists_late_refunds_and_approves_them(zaozhuang, api, case_workers, client):
    settled, account, _ = settled_then_closed(api, case_workers)
    api.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {}, format="json")
    refund = LateRefund.objects.get()
    client.force_login(case_workers[1])
    url = reverse("admin:members_laterefund_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert "230.00" in page.content.decode()
    response = client.post(url, {"action": "approve", "_selected_action": [refund.pk]}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    refund.refresh_from_db()
    assert refund.status == "paid"
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["已支付 1 笔退款。"]
    paid_out = account.entries.count()
    client.get(url)  # the page shows (and uses up) that message
    # Approved again (core.admin_actions.apply_to_selected): the refusal is named, no success said.
    again = client.post(url, {"action": "approve", "_selected_action": [refund.pk]}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    said = [(m.level, str(m)) for m in get_messages(again.wsgi_request)]
    assert said == [(messages.ERROR, f"{refund}: 该笔退款已支付。")], said
    assert account.entries.count() == paid_out


def test_a_refund_to_an_open_account_is_not_a_late_refund(zaozhuang, api):
    member = make_member(balance="500.00")
    settled = api.post("/api/v1/settlements", body(member), format="json").json()
    api.post(f"/api/v1/settlements/{settled['settlement_id']}/reverse", {}, format="json")
    assert not LateRefund.objects.exists()
