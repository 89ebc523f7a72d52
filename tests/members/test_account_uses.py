"""Lawful uses of the personal account (§3.2, §3.3): refusals leave the balance unchanged."""

from datetime import date
from decimal import Decimal

import pytest

from core.errors import DomainError
from core.roles import Role
from members.models import AccountDecision, FamilyLink, LedgerEntry, PersonalAccount
from members.services import (
    account_lock,
    account_pay_premium,
    account_post_entry,
    account_withdrawal_approve,
    account_withdrawal_propose,
    account_withdrawal_reject,
)
from tests.factories import MemberFactory, UserFactory

from .credit_helpers import use_region

D = Decimal


@pytest.fixture
def case_workers(db):
    return UserFactory(roles=[Role.CASE_WORKER]), UserFactory(roles=[Role.CASE_WORKER])


def funded_account(balance="500.00", **member):
    account = PersonalAccount.objects.create(member=MemberFactory(**member), opened_on=date(2023, 1, 1))
    account_lock(account_ids=[account.pk])
    account_post_entry(account=account, kind=LedgerEntry.Kind.OPENING_BALANCE, amount=D(balance))
    return account


def assert_untouched(account, balance="500.00"):
    account.refresh_from_db()
    assert account.balance == D(balance)
    assert account.entries.count() == 1  # only the opening balance


@pytest.mark.parametrize("purpose", ["public_health", "fitness", "wellness"])
def test_forbidden_uses_are_refused_with_the_balance_unchanged(db, settings, case_workers, purpose):
    """Zaozhuang 第八条 (every region): never public health, fitness or wellness spending."""
    use_region(settings, "zaozhuang")
    account = funded_account()
    with pytest.raises(DomainError) as refusal:
        account_pay_premium(account=account, purpose=purpose, amount=D("100.00"), reference="B1",
                            on=date(2024, 3, 1), user=case_workers[0])
    assert refusal.value.code == "forbidden_use"
    assert_untouched(account)


def test_a_premium_not_on_the_regions_list_is_refused(db, settings, case_workers):
    """Zaozhuang 第八条 lists resident insurance, LTC and inclusive commercial insurance only."""
    use_region(settings, "zaozhuang")
    account = funded_account()
    with pytest.raises(DomainError) as refusal:
        account_pay_premium(account=account, purpose="critical_illness_insurance", amount=D("100.00"),
                            reference="B1", on=date(2024, 3, 1), user=case_workers[0])
    assert refusal.value.code == "premium_not_allowed"
    assert_untouched(account)


def test_a_relatives_resident_insurance_premium_is_paid_once_per_bill(db, settings, case_workers):
    """Zaozhuang 第八条: resident medical insurance premiums of the spouse, parents and children."""
    use_region(settings, "zaozhuang")
    account = funded_account()
    child = MemberFactory(born=date(2010, 1, 1))
    FamilyLink.objects.create(member=account.member, relative=child, relation="child")
    for _ in range(2):
        entry = account_pay_premium(account=account, purpose="resident_medical_insurance", amount=D("380.00"),
                                    reference="2024-JM-001", insured=child, on=date(2024, 3, 1),
                                    user=case_workers[0])
    account.refresh_from_db()
    assert account.balance == D("120.00")
    assert (entry.kind, entry.amount, entry.balance_after) == ("premium_payment", D("-380.00"), D("120.00"))
    assert account.entries.filter(kind="premium_payment").count() == 1


def test_a_premium_for_someone_not_linked_is_refused(db, settings, case_workers):
    use_region(settings, "zaozhuang")
    account = funded_account()
    stranger = MemberFactory()
    with pytest.raises(DomainError) as refusal:
        account_pay_premium(account=account, purpose="resident_medical_insurance", amount=D("380.00"),
                            reference="B1", insured=stranger, on=date(2024, 3, 1), user=case_workers[0])
    assert refusal.value.code == "not_family"
    assert_untouched(account)


def test_yangzhou_large_expense_premium_only_for_the_member_himself(db, settings, case_workers):
    """Yangzhou 二(三): the member's own large-amount subsidy premium; not a relative's."""
    use_region(settings, "yangzhou")
    account = funded_account()
    spouse = MemberFactory()
    FamilyLink.objects.create(member=account.member, relative=spouse, relation="spouse")
    with pytest.raises(DomainError) as refusal:
        account_pay_premium(account=account, purpose="large_expense_subsidy", amount=D("100.00"),
                            reference="B1", insured=spouse, on=date(2024, 3, 1), user=case_workers[0])
    assert refusal.value.code == "premium_not_for_insured"
    assert_untouched(account)
    account_pay_premium(account=account, purpose="large_expense_subsidy", amount=D("100.00"),
                        reference="B2", on=date(2024, 3, 1), user=case_workers[0])
    account.refresh_from_db()
    assert account.balance == D("400.00")


def test_a_premium_above_the_balance_is_refused(db, settings, case_workers):
    use_region(settings, "zaozhuang")
    account = funded_account()
    with pytest.raises(DomainError) as refusal:
        account_pay_premium(account=account, purpose="long_term_care_insurance", amount=D("500.01"),
                            reference="B1", on=date(2024, 3, 1), user=case_workers[0])
    assert refusal.value.code == "insufficient_balance"
    assert_untouched(account)


@pytest.mark.parametrize("reason", ["cash", "unemployment", "medical_beauty"])
def test_withdrawal_for_any_other_reason_is_refused(db, case_workers, reason):
    """Zaozhuang 第九条: no cash withdrawal except transfer, relocation, settling abroad, death."""
    account = funded_account()
    with pytest.raises(DomainError) as refusal:
        account_withdrawal_propose(account=account, reason=reason, user=case_workers[0])
    assert refusal.value.code == "withdrawal_not_allowed"
    assert not AccountDecision.objects.exists()
    assert_untouched(account)


def test_transfer_out_needs_a_second_case_worker_and_closes_the_account(db, case_workers):
    """Zaozhuang 第九条: transfer to another pooling region; separated duties (Ziyang 第十九条)."""
    proposer, approver = case_workers
    account = funded_account()
    decision = account_withdrawal_propose(account=account, reason="transfer_to_another_region",
                                          destination="济南市", user=proposer)
    with pytest.raises(DomainError) as refusal:
        account_withdrawal_approve(decision=decision, user=proposer)
    assert refusal.value.code == "separated_duties"
    assert_untouched(account)

    account_withdrawal_approve(decision=decision, user=approver)
    account.refresh_from_db()
    decision.refresh_from_db()
    assert (account.balance, account.status) == (D("0.00"), "closed")
    assert (decision.status, decision.amount) == ("executed", D("500.00"))
    entry = account.entries.get(kind="transfer_out")
    assert (entry.amount, entry.reference) == (D("-500.00"), f"decision:{decision.pk}")


def test_death_pays_the_heirs_by_their_shares_to_the_fen(db, case_workers):
    """Zaozhuang 第九条: the balance is inherited; the heirs' shares add up to the balance exactly."""
    from core.idnumber import make_id_number

    proposer, approver = case_workers
    account = funded_account(balance="100.00")
    member = account.member
    member.status, member.died_on = "deceased", date(2024, 2, 1)
    member.save()
    heirs = [
        {"name": "张一", "id_number": make_id_number("370402", date(1990, 1, 1), 11), "share_percent": "33.33"},
        {"name": "张二", "id_number": make_id_number("370402", date(1992, 1, 1), 12), "share_percent": "33.33"},
        {"name": "张三", "id_number": make_id_number("370402", date(1994, 1, 1), 13), "share_percent": "33.34"},
    ]
    decision = account_withdrawal_propose(account=account, reason="death", heirs=heirs, user=proposer)
    account_withdrawal_approve(decision=decision, user=approver)
    amounts = list(account.entries.filter(kind="inheritance").order_by("pk").values_list("amount", flat=True))
    assert amounts == [D("-33.33"), D("-33.33"), D("-33.34")]
    account.refresh_from_db()
    assert (account.balance, account.status) == (D("0.00"), "closed")


def test_death_of_a_living_member_is_refused(db, case_workers):
    account = funded_account()
    with pytest.raises(DomainError) as refusal:
        account_withdrawal_propose(account=account, reason="death", heirs=[], user=case_workers[0])
    assert refusal.value.code == "member_not_deceased"
    assert_untouched(account)


def test_a_rejected_withdrawal_leaves_the_account_as_it_was(db, case_workers):
    proposer, approver = case_workers
    account = funded_account()
    decision = account_withdrawal_propose(account=account, reason="settling_abroad", user=proposer)
    account_withdrawal_reject(decision=decision, reason="证明材料不全", user=approver)
    decision.refresh_from_db()
    assert decision.status == "rejected"
    assert_untouched(account)
    with pytest.raises(DomainError) as refusal:
        account_withdrawal_approve(decision=decision, user=approver)
    assert refusal.value.code == "already_decided"
    assert_untouched(account)


def test_a_closed_account_is_not_credited_again(db, settings, case_workers):
    """A transfer out closes the account: the monthly run skips it."""
    from .credit_helpers import run

    use_region(settings, "zaozhuang")
    account = funded_account(enrollment__contribution_base=D("6000.00"))
    decision = account_withdrawal_propose(account=account, reason="relocation", user=case_workers[0])
    account_withdrawal_approve(decision=decision, user=case_workers[1])
    credit_run = run("2024-03")
    assert credit_run.skipped == {"account_closed": 1}
    assert not account.entries.filter(kind="monthly_credit").exists()


def test_only_case_workers_propose(db):
    account = funded_account()
    with pytest.raises(DomainError) as refusal:
        account_withdrawal_propose(account=account, reason="relocation", user=UserFactory(roles=[Role.FINANCE]))
    assert refusal.value.code == "forbidden"
