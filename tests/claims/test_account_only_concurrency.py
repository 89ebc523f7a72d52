"""50 concurrent account-only sales against one small balance (PostgreSQL row locks): the
account is never overdrawn, every response adds up, the ledger agrees with the balance."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from claims.models import Claim
from members.models import LedgerEntry, PersonalAccount
from tests.factories import ProviderFactory

from .conftest import make_member

THREADS = 50


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_50_concurrent_account_only_sales_never_overdraw_the_account(on_postgres, region, catalog, provider_client):
    region("zaozhuang")
    provider = ProviderFactory(kind="pharmacy", outpatient_pooling=False)
    clients = [provider_client(provider) for _ in range(4)]
    member = make_member(balance="100.00")  # 30.00 a sale: 3 paid in full, 1 partly, the rest refused

    responses, errors = [], []
    start = threading.Barrier(THREADS)

    def sell(n):
        try:
            start.wait()
            response = clients[n % len(clients)].post(
                "/api/v1/settlements",
                {
                    "benefit": "personal_account",
                    "member_id_number": member.id_number,
                    "visit_date": "2023-06-01",
                    "external_ref": f"ACC-{n}",
                    "items": [{"code": "A-DRUG", "quantity": "3", "unit_price": "10.00"}],
                },
                format="json",
            )
            responses.append((response.status_code, response.json()))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=sell, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    settled = [body for status, body in responses if status == 201]
    refused = [body for status, body in responses if status != 201]
    assert len(settled) == 4, responses[:5]
    assert {(status, body["code"]) for status, body in responses if status != 201} == {(400, "account_empty")}
    assert len(refused) == THREADS - 4
    account = PersonalAccount.objects.get(member=member)
    assert account.balance == Decimal("0.00")
    assert sum(Decimal(body["account"]) for body in settled) == Decimal("100.00")
    assert sorted(body["cash"] for body in settled) == ["0.00", "0.00", "0.00", "20.00"]
    for body in settled:
        assert Decimal(body["account"]) + Decimal(body["cash"]) == Decimal(body["total"]) == Decimal("30.00")
        assert Decimal(body["balance_after"]) >= 0
    assert sum(entry.amount for entry in LedgerEntry.objects.filter(account=account)) == account.balance
    assert Claim.objects.count() == 4
