"""Every fund that pays on a settlement is on the statement (claims.funds): the pooled fund and
Jinan (七)'s large-amount subsidy (职工大额医疗费用补助, the second payment), in the figures, the
payable, the export, the reconciliation and the dashboard. Henan 第五章 / Zaozhuang 第十五条:
the agency pays the provider the funds' and the accounts' shares monthly."""

import random
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone, translation

from claims.funds import FUND_FIELDS, FUNDS, REVERSED_FUND_FIELDS, funds_total
from claims.models import Claim, Deduction, ProviderStatement
from claims.statements import exports
from claims.statements.services import deduction_record, reconciliation_submit, statement_close_month
from core.roles import Role
from supervision.dashboard import dashboard_data
from tests.factories import ProviderFactory, UserFactory

from .conftest import make_member, provider_of_level
from .statement_helpers import MARCH, local, settled_claim

D = Decimal
ZERO = D("0.00")


def test_every_fund_has_its_settlement_field_and_statement_columns(db):
    """A fund added to claims.funds without its columns would be left off the statement."""
    assert [fund.name for fund in FUNDS] == ["pooled", "large_expense_subsidy"]
    claim_fields = {field.name for field in Claim._meta.get_fields()}
    statement_fields = {field.name for field in ProviderStatement._meta.get_fields()}
    for fund in FUNDS:
        assert fund.field in claim_fields
        assert {fund.field, fund.reversed_field} <= statement_fields
        assert {fund.field, fund.reversed_field} <= set(ProviderStatement.FIGURES)


def test_jinan_large_amount_subsidy_settled_through_the_api_is_paid_to_the_provider(region, catalog, provider_client):
    """Jinan (七): the subsidy lowers what the member pays at the counter, so the provider's
    statement pays it: before this fix the provider was underpaid by exactly the subsidy."""
    region("jinan", deductible_annual="500.00", large_expense_subsidy_ratio=80)
    provider = provider_of_level("level_1")
    client = provider_client(provider)
    member = make_member()
    today = timezone.localdate()
    responses = []
    for serial in range(3):
        response = client.post("/api/v1/settlements", {
            "member_id_number": member.id_number, "visit_date": today.isoformat(), "external_ref": f"J-{serial}",
            "benefit": "outpatient_pooling", "visit_place": "local", "use_account": False,
            "items": [{"code": "A-DRUG", "quantity": "1000"}],
        }, format="json")
        assert response.status_code == 201, response.json()
        responses.append(response.json())
    subsidy = sum(D(body["large_expense_subsidy"]) for body in responses)
    fund = sum(D(body["fund"]) for body in responses)
    assert subsidy > 0 and fund > 0  # the cap is reached, then the subsidy pays again
    # The settlements belong to last month (the month must have ended to be closed).
    month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    Claim.objects.update(settled_at=local(month.year, month.month, 15))

    statement_close_month(month=month)

    statement = ProviderStatement.objects.get(provider=provider, month=month)
    assert (statement.fund, statement.large_expense_subsidy) == (fund, subsidy)
    cash = sum(D(body["cash"]) for body in responses)
    assert statement.total == fund + subsidy + cash
    assert statement.payable == fund + subsidy  # no account used; cash stays with the provider
    with translation.override("zh-hans"):
        rows = dict(exports.statement_rows(statement))
    assert rows["大额医疗费用补助支付"] == subsidy
    assert rows["应拨付金额（各项基金＋账户－扣款）"] == fund + subsidy


def test_subsidy_reversed_in_the_next_month_is_taken_back_there(region, catalog):
    """A late reversal lands on the next month's statement, every fund included."""
    region("zaozhuang")
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 10), fund="100.00", large_expense_subsidy="40.00",
                  account="5.00", cash="1.00", reversed_at=local(2026, 4, 2))
    statement_close_month(month=MARCH)
    statement_close_month(month=date(2026, 4, 1))
    march = ProviderStatement.objects.get(month=MARCH)
    april = ProviderStatement.objects.get(month=date(2026, 4, 1))
    assert (march.large_expense_subsidy, march.payable) == (D("40.00"), D("145.00"))
    assert (april.reversed_large_expense_subsidy, april.reversed_fund, april.payable) == (D("40.00"), D("100.00"), D("-145.00"))
    assert april.net_funds == D("-140.00")


def test_a_year_of_generated_settlements_the_funds_add_up_to_the_statements(region, catalog):
    """Σ of every fund over the year's settlements (and reversals) equals Σ over the twelve
    monthly statements, fund by fund; the payables add up to funds + accounts − deductions."""
    region("zaozhuang")
    finance = UserFactory(roles=[Role.FINANCE])
    rng = random.Random(17)
    providers = [ProviderFactory() for _ in range(3)]
    claims = []
    for month in range(1, 13):
        for _ in range(8):
            subsidy = f"{rng.randint(0, 30000) / 100:.2f}" if rng.random() < 0.4 else "0.00"
            reversed_at = None
            if rng.random() < 0.2:
                later = min(12, month + rng.randint(0, 1))
                reversed_at = local(2025, later, 27)
            claims.append(settled_claim(
                provider=rng.choice(providers), settled_at=local(2025, month, rng.randint(1, 26)),
                fund=f"{rng.randint(0, 99999) / 100:.2f}", large_expense_subsidy=subsidy,
                account=f"{rng.randint(0, 5000) / 100:.2f}", family_account=f"{rng.randint(0, 300) / 100:.2f}",
                cash=f"{rng.randint(0, 2000) / 100:.2f}", reversed_at=reversed_at,
            ))
    deduction_record(provider=providers[0], amount=D("12.34"), reason="r", source_reference="flag:1", user=finance)
    Deduction.objects.update(decided_on=date(2025, 6, 30))
    for month in range(1, 13):
        statement_close_month(month=date(2025, month, 1))

    statements = ProviderStatement.objects.filter(month__year=2025)
    for fund in FUNDS:
        on_statements = statements.aggregate(paid=Sum(fund.field), reversed=Sum(fund.reversed_field))
        assert on_statements["paid"] == sum(getattr(c, fund.field) for c in claims), fund.name
        assert on_statements["reversed"] == sum(getattr(c, fund.field) for c in claims if c.reversed_at), fund.name
    assert sum(c.large_expense_subsidy for c in claims) > 0
    valid = [c for c in claims if c.reversed_at is None]
    assert statements.aggregate(p=Sum("payable"))["p"] == (
        sum(funds_total(c) + c.account + c.family_account for c in valid) - D("12.34")
    )
    # Every settlement adds up: total = Σ funds + accounts + cash (no fund left off the list).
    for claim in Claim.objects.all():
        assert claim.total == funds_total(claim) + claim.account + claim.family_account + claim.cash


def test_reconciliation_fund_is_every_fund_together(region, catalog):
    """Like the national 3201 fund_pay_sumamt: the provider's fund total includes the subsidy."""
    region("zaozhuang")
    provider = ProviderFactory()
    user = UserFactory(roles=["定点机构"])
    settled_claim(provider=provider, settled_at=local(2026, 3, 3), fund="100.00", large_expense_subsidy="40.00", cash="2.00",
                  external_ref="S-1")
    result = reconciliation_submit(
        provider=provider, user=user, period_from=date(2026, 3, 1), period_to=date(2026, 3, 31),
        totals={"count": 1, "total": "142.00", "fund": "140.00", "account": "0.00", "cash": "2.00"},
        settlements=[exports_line("S-1", total="142.00", fund="140.00", cash="2.00")],
    )
    assert result.result == "match", result.differences
    pooled_only = reconciliation_submit(
        provider=provider, user=user, period_from=date(2026, 3, 1), period_to=date(2026, 3, 31),
        totals={"count": 1, "total": "142.00", "fund": "100.00", "account": "0.00", "cash": "2.00"},
    )
    assert pooled_only.differences["totals"] == {"fund": {"provider": "100.00", "agency": "140.00"}}


def exports_line(ref, *, total, fund, cash):
    from claims.statements.services import SubmittedSettlement

    return SubmittedSettlement(total=D(total), fund=D(fund), account=ZERO, cash=D(cash), external_ref=ref)


def test_settlement_export_and_dashboard_carry_every_fund(region, catalog):
    region("zaozhuang")
    provider = ProviderFactory()
    claim = settled_claim(provider=provider, settled_at=timezone.now(), fund="60.00", large_expense_subsidy="25.00")
    assert set(FUND_FIELDS) <= set(exports.SETTLEMENT_COLUMNS)
    assert REVERSED_FUND_FIELDS == ("reversed_fund", "reversed_large_expense_subsidy")
    data = dashboard_data(claim.visit_date.year)
    series = {entry["name"]: entry["data"] for entry in data["spending_by_month"]["funds"]}
    assert series == {"pooled": [60.0], "large_expense_subsidy": [25.0]}
    assert data["spending_by_month"]["fund"] == [85.0]
    assert data["spending_by_level"]["fund"] == [85.0]
