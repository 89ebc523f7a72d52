"""50 concurrent chronic settlements against one yearly limit (PostgreSQL row locks): the fund
never pays past the disease's limit, the account never goes below zero, every response adds up,
and a reversal gives the limit back."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from claims import chronic
from claims.models import ChronicYear, Claim, Disease
from core.roles import Role
from members.models import LedgerEntry, PersonalAccount
from tests.factories import ProviderFactory, UserFactory

from .conftest import make_member
from .test_chronic_settlement import load_chronic, terms

THREADS = 50


@pytest.mark.django_db(transaction=True)
def test_chronic_limit_and_balance_hold_under_50_concurrent_settlements(on_postgres, settings, region, catalog, provider_client):
    region("zaozhuang")
    load_chronic("zaozhuang", groups={"special": terms(ratio=100, limit="500.00")})
    provider = ProviderFactory(kind="institution", level="level_1")
    clients = [provider_client(provider) for _ in range(4)]
    member = make_member(balance="100.00")
    disease = Disease.objects.create(region=settings.REGION, code="S1", name="S1", group="special")
    # Proposed and approved by two case workers (the services check the role).
    chronic.registration_approve(user=UserFactory(roles=[Role.CASE_WORKER]), registration=chronic.registration_propose(
        user=UserFactory(roles=[Role.CASE_WORKER]), member=member, disease=disease, valid_from=date(2023, 1, 1)))

    responses, errors = [], []
    start = threading.Barrier(THREADS)

    def settle(n):
        try:
            start.wait()
            response = clients[n % len(clients)].post("/api/v1/settlements", {
                "member_id_number": member.id_number, "visit_date": "2023-06-01", "external_ref": f"CC-{n}",
                "benefit": "chronic_special", "disease_code": "S1", "use_account": True,
                "items": [{"code": "A-DRUG", "quantity": "3", "unit_price": "10.00"}],
            }, format="json")
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
    # 50 × 30.00 = 1500.00 asked; the limit pays 500.00, the account 100.00 of the rest.
    tally = ChronicYear.objects.get(member=member, year=2023)
    assert tally.fund_paid == Decimal("500.00")
    assert sum(Decimal(body["fund"]) for _, body in responses) == Decimal("500.00")
    assert sum(Decimal(body["account"]) for _, body in responses) == Decimal("100.00")
    account = PersonalAccount.objects.get(member=member)
    assert account.balance == Decimal("0.00")
    for _, body in responses:
        assert Decimal(body["fund"]) + Decimal(body["account"]) + Decimal(body["cash"]) == Decimal(body["total"]) == Decimal("30.00")
        assert Decimal(body["year"]["fund_paid"]) <= Decimal("500.00")
    assert sum(entry.amount for entry in LedgerEntry.objects.filter(account=account)) == account.balance
    assert sum(c.fund for c in Claim.objects.filter(member=member)) == Decimal("500.00")
