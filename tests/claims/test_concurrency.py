"""50 concurrent settlements for one member close to the cap with a small balance
(PostgreSQL row locks): the fund never pays past the cap, the account never goes below
zero, and every response adds up. Zaozhuang 第五条(三): cap 1500."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from claims.models import Claim, MemberYear
from members.models import LedgerEntry, PersonalAccount
from tests.factories import ProviderFactory

from .conftest import make_member

THREADS = 50


@pytest.mark.django_db(transaction=True)
def test_cap_and_balance_hold_under_50_concurrent_settlements(on_postgres, region, catalog, provider_client):
    region("zaozhuang")
    client_factory = provider_client
    provider = ProviderFactory(kind="institution", level="level_1")
    clients = [client_factory(provider) for _ in range(4)]
    member = make_member(balance="50.00")
    # Close to the cap: deductible met, 1450 of 1500 paid.
    MemberYear.objects.create(member=member, year=2023, deductible_met=Decimal("800.00"), fund_paid=Decimal("1450.00"), cap=Decimal("1500.00"))

    responses, errors = [], []
    start = threading.Barrier(THREADS)

    def settle(n):
        try:
            start.wait()
            client = clients[n % len(clients)]
            response = client.post(
                "/api/v1/settlements",
                {
                    "member_id_number": member.id_number,
                    "visit_date": "2023-06-01",
                    "external_ref": f"CONC-{n}",
                    "use_account": True,
                    "items": [{"code": "A-DRUG", "quantity": "3", "unit_price": "10.00"}],
                },
                format="json",
            )
            responses.append((response.status_code, response.json()))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=settle, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [status for status, _ in responses] == [201] * THREADS, responses[:3]
    year = MemberYear.objects.get(member=member, year=2023)
    account = PersonalAccount.objects.get(member=member)
    assert year.fund_paid == Decimal("1500.00")  # exactly the cap, never past it
    assert account.balance == Decimal("0.00")
    funds = sum(Decimal(body["fund"]) for _, body in responses)
    paid = sum(Decimal(body["account"]) for _, body in responses)
    assert funds == Decimal("50.00")
    assert paid == Decimal("50.00")
    for _, body in responses:
        assert Decimal(body["fund"]) + Decimal(body["account"]) + Decimal(body["cash"]) == Decimal(body["total"]) == Decimal("30.00")
        assert Decimal(body["year"]["fund_paid"]) <= Decimal("1500.00")
        assert Decimal(body["balance_after"]) >= 0
    # The ledger agrees with the cached balance, and with the claims.
    entries = LedgerEntry.objects.filter(account=account)
    assert sum(entry.amount for entry in entries) == account.balance
    assert sum(c.fund for c in Claim.objects.filter(member=member)) == Decimal("50.00")
