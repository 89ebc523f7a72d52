"""The cross-region clearing statements (省内 / 省外异地就医清算): the settlements the cross-region
platform submitted (no local provider) are cleared monthly with the provincial and the national
platform, each on a statement of its own, approved, paid and reconciled like a provider's.
Henan 第五章 / Zaozhuang 第十五条: the agency settles the funds' and accounts' shares monthly."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from claims.models import Claim, ProviderStatement, Reconciliation
from claims.statements.services import (
    reconciliation_submit,
    statement_approve,
    statement_close_month,
    statement_record_payment,
)
from core.errors import Conflict, DomainError
from core.models import AuditEvent
from core.roles import Role
from tests.factories import UserFactory

from .conftest import make_member, provider_of_level
from .statement_helpers import local

D = Decimal
IN, OUT = ProviderStatement.Clearing.IN_PROVINCE, ProviderStatement.Clearing.OUT_OF_PROVINCE


def _remote(client, member, ref, place, quantity):
    response = client.post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": timezone.localdate().isoformat(), "external_ref": ref,
        "benefit": "outpatient_pooling", "visit_place": place, "use_account": False,
        "provider_level": "level_3", "remote_provider_code": "H11010500001", "remote_provider_name": "北京某医院",
        "items": [{"code": "A-DRUG", "quantity": str(quantity)}],
    }, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def world(region, catalog, platform_client, provider_client):
    region("zaozhuang")
    member = make_member()
    local_provider = provider_of_level("level_1")
    response = provider_client(local_provider).post("/api/v1/settlements", {
        "member_id_number": member.id_number, "visit_date": timezone.localdate().isoformat(), "external_ref": "LOC-1",
        "benefit": "outpatient_pooling", "visit_place": "local", "use_account": False,
        "items": [{"code": "A-DRUG", "quantity": "100"}],
    }, format="json")
    assert response.status_code == 201, response.json()
    # After the local visit met the year's deductible, the remote ones are paid by the fund.
    _remote(platform_client, member, "IN-1", "in_province", 100)
    _remote(platform_client, member, "IN-2", "in_province", 40)
    _remote(platform_client, member, "OUT-1", "out_of_province", 80)
    today = timezone.localdate()
    month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    Claim.objects.update(settled_at=local(month.year, month.month, 10))
    return {"month": month, "local_provider": local_provider, "platform_client": platform_client}


def test_platform_settlements_are_on_their_own_clearing_statements(world):
    month = world["month"]
    result = statement_close_month(month=month)
    assert result.created == 3  # the local provider, 省内, 省外
    by_place = {place: list(Claim.objects.filter(submitter="cross_region", visit_place=place)) for place in (IN, OUT)}
    assert [len(by_place[IN]), len(by_place[OUT])] == [2, 1]
    for place in (IN, OUT):
        statement = ProviderStatement.objects.get(provider__isnull=True, clearing=place, month=month)
        claims = by_place[place]
        assert statement.settlement_count == len(claims)
        assert statement.fund == sum(c.fund for c in claims) > 0
        assert statement.total == sum(c.total for c in claims)
        assert statement.payable == sum(c.fund + c.large_expense_subsidy + c.account + c.family_account for c in claims)
    provider_statement = ProviderStatement.objects.get(provider=world["local_provider"], month=month)
    assert provider_statement.settlement_count == 1 and provider_statement.clearing == ""
    # A rerun replaces the drafts with the same figures.
    before = {s.pk: s.payable for s in ProviderStatement.objects.all()}
    again = statement_close_month(month=month)
    assert (again.created, again.replaced) == (0, 3)
    assert {s.pk: s.payable for s in ProviderStatement.objects.all()} == before


def test_clearing_statement_is_approved_paid_and_then_frozen(world):
    month = world["month"]
    generator = UserFactory(roles=[Role.FINANCE])
    approver, payer = UserFactory(roles=[Role.FINANCE]), UserFactory(roles=[Role.FINANCE])
    statement_close_month(month=month, user=generator)
    statement = ProviderStatement.objects.get(clearing=OUT, month=month)
    with pytest.raises(DomainError):  # Ziyang 第十九条: who generated it does not approve it
        statement_approve(statement_id=statement.pk, user=generator)
    statement_approve(statement_id=statement.pk, user=approver)
    statement_record_payment(statement_id=statement.pk, user=payer, payment_reference="NATIONAL-2026-11")
    statement.refresh_from_db()
    assert (statement.status, statement.payment_reference) == (ProviderStatement.Status.PAID, "NATIONAL-2026-11")
    assert AuditEvent.objects.filter(action="statement.pay").count() == 1
    # A late platform settlement written behind the services' back changes nothing once paid.
    frozen = statement.payable
    Claim.objects.filter(external_ref="IN-1").update(visit_place=OUT)
    assert statement_close_month(month=month).kept_approved == 1
    statement.refresh_from_db()
    assert statement.payable == frozen
    statement.fund += 1
    with pytest.raises(Conflict):
        statement.save()


def test_clearing_statement_print_and_xlsx_in_the_admin(world):
    month = world["month"]
    statement_close_month(month=month)
    statement = ProviderStatement.objects.get(clearing=IN, month=month)
    client = Client()
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    page = client.get(reverse("admin:claims_providerstatement_print", args=[statement.pk]))
    assert page.status_code == 200
    assert "省内异地就医清算" in page.content.decode()
    xlsx = client.get(reverse("admin:claims_providerstatement_xlsx", args=[statement.pk]))
    assert xlsx.status_code == 200 and "clearing-in_province" in xlsx["Content-Disposition"]
    listing = client.get(reverse("admin:claims_providerstatement_changelist"))
    assert listing.status_code == 200


def test_the_platform_reconciles_each_clearing_through_the_api(world):
    month = world["month"]
    claims = list(Claim.objects.filter(submitter="cross_region", visit_place=IN))
    totals = {
        "period_from": month.isoformat(), "period_to": (month.replace(day=28)).isoformat(), "clearing": "in_province",
        "count": len(claims), "total": str(sum(c.total for c in claims)),
        "fund": str(sum(c.fund + c.large_expense_subsidy for c in claims)),
        "account": str(sum(c.account + c.family_account for c in claims)), "cash": str(sum(c.cash for c in claims)),
    }
    client = world["platform_client"]
    response = client.post("/api/v1/reconciliations", totals, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["result"] == "match"
    # The same totals against the 省外 clearing do not match (one settlement, other amounts).
    response = client.post("/api/v1/reconciliations", {**totals, "clearing": "out_of_province"}, format="json")
    assert response.json()["result"] == "mismatch"
    assert response.json()["differences"]["totals"]["count"] == {"provider": "2", "agency": "1"}
    assert client.get(f"/api/v1/reconciliations/{response.json()['reconciliation_id']}").status_code == 200
    # No clearing named: refused, naming the field, and nothing written.
    before = Reconciliation.objects.count()
    refused = client.post("/api/v1/reconciliations", {k: v for k, v in totals.items() if k != "clearing"}, format="json")
    assert refused.status_code == 400 and "clearing" in str(refused.json())
    assert Reconciliation.objects.count() == before


def test_a_provider_cannot_read_the_platforms_reconciliation(world, provider_client):
    month = world["month"]
    reconciliation = reconciliation_submit(
        provider=None, clearing=OUT, user=UserFactory(), period_from=month, period_to=month.replace(day=28),
        totals={"count": 1, "total": "0", "fund": "0", "account": "0", "cash": "0"},
    )
    assert (reconciliation.result, reconciliation.provider_id, reconciliation.clearing) == ("mismatch", None, OUT)
    client = provider_client(world["local_provider"])
    assert client.get(f"/api/v1/reconciliations/{reconciliation.pk}").status_code == 404
