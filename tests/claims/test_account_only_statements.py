"""Account-only settlements on the pharmacy's monthly statement (the account part is payable to
the pharmacy) and on the member's account statement by kind of use (CONTRACT.md "Account-only
settlement"; Zaozhuang 第八条: own purchases, relatives, premiums)."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from claims.models import Claim, ProviderStatement
from claims.statements.services import statement_close_month, statement_settlements
from core.roles import Role
from members.models import PersonalAccount
from members.services import family_link_create_outside
from members.statements import account_statement
from tests.factories import ProviderFactory, UserFactory, new_id_number

from .conftest import make_member
from .statement_helpers import MARCH, local


@pytest.fixture
def sold(region, catalog, provider_client):
    """In March 2026 a pharmacy outside pooling sells 30.00 to the member and 50.00 to the
    member's mother (outside the registry), both from the member's account; the mother's sale
    is then reversed in March, and a third sale of 20.00 stays."""
    region("zaozhuang")
    pharmacy = ProviderFactory(kind="pharmacy", outpatient_pooling=False)
    api = provider_client(pharmacy)
    member = make_member(balance="500.00")
    mother = new_id_number(date(1951, 1, 1))
    family_link_create_outside(member=member, relative_id_number=mother, relative_name="钱淑芬", relation="parent",
                               user=UserFactory(roles=[Role.CASE_WORKER]))

    def sell(ref, person, amount, **extra):
        response = api.post("/api/v1/settlements", {
            "benefit": "personal_account", "member_id_number": person, "visit_date": "2026-03-05", "external_ref": ref,
            "items": [{"code": "A-DRUG", "quantity": "1", "unit_price": amount}], **extra,
        }, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    sell("S1", member.id_number, "30.00")
    gone = sell("S2", mother, "50.00", payer_id_number=member.id_number)
    sell("S3", mother, "20.00", payer_id_number=member.id_number)
    assert api.post(f"/api/v1/settlements/{gone['settlement_id']}/reverse", {"reason": "退货"}, format="json").status_code == 200
    Claim.objects.update(settled_at=local(2026, 3, 5))
    Claim.objects.filter(status=Claim.Status.REVERSED).update(reversed_at=local(2026, 3, 6))
    return pharmacy, member


def test_the_monthly_statement_pays_the_pharmacy_the_account_part(sold):
    pharmacy, _member = sold
    statement_close_month(month=MARCH)
    statement = ProviderStatement.objects.get(provider=pharmacy, month=MARCH)
    assert (statement.settlement_count, statement.total, statement.fund, statement.account, statement.family_account, statement.cash) == (
        3, Decimal("100.00"), Decimal("0.00"), Decimal("30.00"), Decimal("70.00"), Decimal("0.00"))
    assert (statement.reversal_count, statement.reversed_family_account) == (1, Decimal("50.00"))
    assert statement.net_account == Decimal("50.00")
    assert statement.payable == Decimal("50.00")
    assert {claim.external_ref for claim in statement_settlements(statement)} == {"S1", "S2", "S3"}


def test_the_members_account_statement_shows_the_uses(sold, client, settings):
    _pharmacy, member = sold
    account = PersonalAccount.objects.get(member=member)
    statement = account_statement(account, date.today().year)
    assert statement.uses == {"own": Decimal("30.00"), "relatives": Decimal("20.00"), "premiums": Decimal("0.00")}
    assert statement.closing == account.balance == Decimal("450.00")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    page = client.get(reverse("members:account-statement", args=[member.pk, date.today().year]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = page.content.decode()
    assert page.status_code == 200
    assert "本人就医购药" in text and "家属使用（家庭共济）" in text


def test_the_pharmacy_reconciles_its_account_only_sales(sold, provider_client):
    """对账: the two sales still settled in March, their account part counted as account."""
    pharmacy, _member = sold
    api = provider_client(pharmacy)
    claims = list(Claim.objects.filter(status=Claim.Status.SETTLED).order_by("pk"))
    lines = [{"external_ref": c.external_ref, "total": str(c.total), "fund": "0.00",
              "account": str(c.account + c.family_account), "cash": str(c.cash)} for c in claims]
    body = {"period_from": "2026-03-01", "period_to": "2026-03-31", "count": 2, "total": "50.00", "fund": "0.00",
            "account": "50.00", "cash": "0.00", "settlements": lines}
    response = api.post("/api/v1/reconciliations", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["result"] == "match"
    assert response.json()["agency"] == {"count": "2", "total": "50.00", "fund": "0.00", "account": "50.00", "cash": "0.00"}
