"""core.sql: fixed statements read back as the ORM reads them; one-statement inserts and
updates; the ledger's balance moved by one UPDATE … RETURNING (members.services)."""

from datetime import date
from decimal import Decimal as D

import pytest
from django.db import transaction

from core.errors import Conflict
from core.models import AuditEvent
from core.sql import Statement, columns, fields, insert, instance, update, update_and_insert
from members.models import LedgerEntry, Member, PersonalAccount
from members.services import InsufficientBalance, account_lock, account_post_entry
from tests.factories import AccountFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_a_statement_reads_rows_with_the_same_python_values_as_the_orm():
    account = AccountFactory(balance=D("12.30"), opened_on=date(2021, 3, 4))
    statement = Statement(
        f'SELECT {columns(PersonalAccount, "a")} FROM "{PersonalAccount._meta.db_table}" a WHERE a."id" = %s',
        fields(PersonalAccount),
    )
    got = instance(PersonalAccount, statement.first([account.pk]))
    expected = PersonalAccount.objects.get(pk=account.pk)
    assert [getattr(got, f.attname) for f in fields(PersonalAccount)] == [
        getattr(expected, f.attname) for f in fields(PersonalAccount)
    ]
    assert isinstance(got.balance, D) and got.balance == D("12.30")
    assert got.opened_on == date(2021, 3, 4)
    assert got._state.adding is False
    assert statement.first([account.pk + 1000]) is None


def test_an_instance_of_a_missing_left_join_side_is_none():
    assert instance(PersonalAccount, [None] * len(fields(PersonalAccount))) is None


def test_insert_writes_several_rows_in_one_statement_and_sets_their_keys(django_assert_num_queries):
    events = [AuditEvent(action="test.one", target_label="a", details={"n": 1}),
              AuditEvent(action="test.two", target_label="b", details={"n": 2})]
    with django_assert_num_queries(1):
        insert(events)
    assert all(event.pk and event.at for event in events)  # auto_now_add is set as save() sets it
    stored = AuditEvent.objects.filter(action__startswith="test.").order_by("pk")
    assert [(e.pk, e.action, e.details) for e in stored] == [
        (events[0].pk, "test.one", {"n": 1}), (events[1].pk, "test.two", {"n": 2})
    ]


def test_insert_and_update_refuse_a_model_whose_save_signals_they_would_skip():
    """Member's history is recorded by django-simple-history's post_save receiver."""
    with pytest.raises(TypeError, match="save signals"):
        insert([Member(id_number="x", name="x", birth_date=date(1980, 1, 1), sex="M")])
    member = MemberFactory()
    with pytest.raises(TypeError, match="save signals"):
        update(member, ["name"])


def test_update_writes_the_named_fields_only_and_refuses_a_missing_row():
    account = AccountFactory(balance=D("5.00"))
    account.status = PersonalAccount.Status.CLOSED
    account.balance = D("999.00")  # not named: not written
    update(account, ["status"])
    account.refresh_from_db()
    assert (account.status, account.balance) == (PersonalAccount.Status.CLOSED, D("5.00"))
    gone = PersonalAccount(pk=account.pk + 1000, status="open")
    with pytest.raises(PersonalAccount.DoesNotExist):
        update(gone, ["status"])


def test_update_and_insert_writes_both_in_one_statement_on_postgresql(django_assert_num_queries):
    from django.db import connection

    account = AccountFactory(balance=D("5.00"))
    account.status, account.balance = PersonalAccount.Status.CLOSED, D("999.00")  # balance not named
    event = AuditEvent(action="test.both", target_label="a", details={"n": 1})
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 2):
        update_and_insert(account, ["status"], event)
    account.refresh_from_db()
    assert (account.status, account.balance) == (PersonalAccount.Status.CLOSED, D("5.00"))
    assert event.pk and event.at and event._state.adding is False
    assert AuditEvent.objects.filter(pk=event.pk, action="test.both", details={"n": 1}).exists()


def test_update_and_insert_refuses_a_missing_row_and_the_transaction_keeps_neither():
    gone = PersonalAccount(pk=AccountFactory().pk + 1000, status="open")
    with pytest.raises(PersonalAccount.DoesNotExist), transaction.atomic():
        update_and_insert(gone, ["status"], AuditEvent(action="test.gone", target_label="b"))
    assert not AuditEvent.objects.filter(action="test.gone").exists()


def _post(account, amount, kind=LedgerEntry.Kind.SETTLEMENT_PAYMENT):
    with transaction.atomic():
        locked = account_lock(account_ids=[account.pk])[account.pk]
        return account_post_entry(account=locked, kind=kind, amount=D(amount), reference="t")


def test_a_posted_entry_moves_the_balance_in_the_database():
    account = AccountFactory(balance=D("0.00"))
    _post(account, "100.00", LedgerEntry.Kind.OPENING_BALANCE)
    entry = _post(account, "-30.25")
    account.refresh_from_db()
    assert (entry.amount, entry.balance_after, account.balance) == (D("-30.25"), D("69.75"), D("69.75"))


def test_a_debit_past_zero_or_from_a_closed_account_changes_nothing():
    account = AccountFactory(balance=D("0.00"))
    _post(account, "10.00", LedgerEntry.Kind.OPENING_BALANCE)
    with pytest.raises(InsufficientBalance) as refusal:
        _post(account, "-10.01")
    assert refusal.value.details == {"balance": "10.00", "amount": "10.01"}
    PersonalAccount.objects.filter(pk=account.pk).update(status=PersonalAccount.Status.CLOSED)
    with pytest.raises(Conflict) as closed:
        _post(account, "-1.00")
    assert closed.value.code == "account_closed"
    account.refresh_from_db()
    assert account.balance == D("10.00")
    assert list(LedgerEntry.objects.filter(account=account).values_list("amount", flat=True)) == [D("10.00")]
    # A refund may still reach a closed account.
    assert _post(account, "2.00", LedgerEntry.Kind.SETTLEMENT_REFUND).balance_after == D("12.00")


def _prepared(connection) -> list[str]:
    with connection.cursor() as db:
        db.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in db.fetchall()]


def _balance_statement(expression: str) -> Statement:
    return Statement(
        f'SELECT {expression} FROM "{PersonalAccount._meta.db_table}" WHERE "id" = %s',
        [PersonalAccount._meta.get_field("balance")],
    )


def test_on_postgresql_fixed_statements_are_prepared_once_and_the_orm_is_not(on_postgres, settings):
    settings.PREPARED_STATEMENTS = True
    account = AccountFactory(balance=D("1.00"))
    statement = _balance_statement('"balance"')
    assert statement.first([account.pk]) == [D("1.00")]
    assert statement.first([account.pk]) == [D("1.00")]
    prepared = _prepared(on_postgres)
    assert sum('FROM "members_personalaccount" WHERE "id" = $1' in text for text in prepared) == 1
    # The ORM binds on the client (no limit on parameters): nothing of it is prepared.
    list(PersonalAccount.objects.filter(pk__in=range(70_000)).values_list("pk", flat=True))
    assert not any("IN (" in text and "members_personalaccount" in text for text in _prepared(on_postgres))


def test_with_prepared_statements_off_nothing_is_prepared(on_postgres, settings):
    settings.PREPARED_STATEMENTS = False
    account = AccountFactory(balance=D("1.00"))
    statement = _balance_statement('"balance" + 0')
    assert statement.first([account.pk]) == [D("1.00")]
    assert not any('"balance" + 0' in text for text in _prepared(on_postgres))


def test_paying_out_exactly_the_balance_built_from_small_credits_is_allowed():
    """0.70 + 0.10 is 0.80 to the fen, on SQLite (whose decimal columns hold floats) too: a
    settlement or a withdrawal that takes the whole balance is not refused."""
    account = AccountFactory(balance=D("0.00"))
    _post(account, "0.70", LedgerEntry.Kind.OPENING_BALANCE)
    _post(account, "0.10", LedgerEntry.Kind.MONTHLY_CREDIT)
    entry = _post(account, "-0.80")
    account.refresh_from_db()
    assert (entry.balance_after, account.balance) == (D("0.00"), D("0.00"))
    for _ in range(10):
        _post(account, "0.10", LedgerEntry.Kind.OPENING_BALANCE)
    assert _post(account, "-1.00").balance_after == D("0.00")


def test_more_ids_or_rows_than_a_statement_may_carry_parameters_for(django_assert_max_num_queries):
    """A server-bound statement carries at most 65,535 parameters (SQLite: 999): account locks
    pass the ids as one array on PostgreSQL, and inserts go in batches."""
    accounts = [AccountFactory(balance=D("1.00")) for _ in range(3)]
    wanted = [account.pk for account in accounts] + list(range(10**9, 10**9 + 70_000))
    with transaction.atomic():
        locked = account_lock(account_ids=wanted)
    assert sorted(locked) == sorted(account.pk for account in accounts)
    assert account_lock(account_ids=[]) == {}
    events = [AuditEvent(action="test.many", target_label=str(n)) for n in range(10_000)]
    insert(events)  # 7 columns each: 70,000 parameters in all
    stored = dict(AuditEvent.objects.filter(action="test.many").values_list("pk", "target_label"))
    assert stored == {event.pk: event.target_label for event in events}
    assert len(stored) == 10_000
