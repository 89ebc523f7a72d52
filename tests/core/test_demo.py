from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from claims.models import Claim
from core.roles import Role
from demo.data import load_demo
from members.models import LedgerEntry, Member

pytestmark = pytest.mark.django_db


def test_the_demo_loads_once_and_again_changes_nothing(settings):
    settings.REGION = "zaozhuang"
    first = load_demo(today=date(2026, 11, 23))
    counts = (Member.objects.count(), LedgerEntry.objects.count(), Claim.objects.count())
    second = load_demo(today=date(2026, 11, 23))
    assert (Member.objects.count(), LedgerEntry.objects.count(), Claim.objects.count()) == counts
    assert first["settlements"] == second["settlements"]
    # This month: three pooling visits and one chronic visit (example values, labelled as such);
    # the last three months: 8 pooling visits and 4 account-only sales a month; last year: three
    # visits a month at the city hospital (for its year-end settlement).
    assert Claim.objects.count() == 4 + 3 * (8 + 4) + 12 * 3
    assert Claim.objects.filter(benefit="chronic_special").count() == 1
    assert first["operations"]["months"] == {"pooling": 24, "account_only": 12, "refused": []}
    assert second["operations"] == {**first["operations"], "rule_batches": ["1: kept", "7: kept", "8-1: kept"]}
    assert first["chronic"][-1] == second["chronic"][-1] and first["chronic"][-1].startswith("DEMO-CHRONIC-202611: fund")
    # Zaozhuang 第五条: 1000.00 at a level-3 hospital, deductible 800, 50% → the fund pays 100.00.
    assert first["settlements"][0].startswith("DEMO-202611-0001: fund 100.00")


def test_the_demo_has_each_stage_of_the_staff_s_day(settings):
    """Issue 16: every page a demo role opens has something true to show."""
    from claims.models import ChronicRegistration, Deduction, ProviderStatement
    from members.models import AccountDecision
    from supervision.models import Flag, MonitoringRun, RulebaseImport

    settings.REGION = "zaozhuang"
    load_demo(today=date(2026, 11, 23))
    # Settlements over August to October, settled on their visit days.
    for month in (8, 9, 10):
        assert Claim.objects.filter(settled_at__year=2026, settled_at__month=month, benefit="outpatient_pooling").count() == 8, month
        assert Claim.objects.filter(settled_at__year=2026, settled_at__month=month).exclude(benefit="outpatient_pooling").count() == 4, month
    # The national rule batches, and one monitoring run over the three months.
    assert sorted(RulebaseImport.objects.values_list("batch", flat=True)) == ["1", "7", "8-1"]
    run = MonitoringRun.objects.get()
    assert (run.date_from, run.date_to) == (date(2026, 8, 1), date(2026, 10, 31))
    # Flags at each stage: batch 7 (six visits charging 血常规 with the consultation) and
    # batch 8-1 (one visit with two 血常规 on one day).
    assert run.flags_raised == 7
    stages = {status: Flag.objects.filter(status=status).count() for status in Flag.Status.values}
    assert stages == {"new": 2, "first_reviewed": 1, "confirmed": 2, "appealed": 1, "deducted": 1, "dismissed": 0}
    decided = Flag.objects.get(appeal_decided_by__username="auditor3")
    assert decided.status == "confirmed" and decided.appeal_reason and decided.appeal_decision
    deducted = Flag.objects.get(status="deducted")
    assert Deduction.objects.get(source_reference=f"supervision.flag:{deducted.pk}").amount == deducted.confirmed_amount > 0
    for flag in Flag.objects.exclude(status="new"):
        assert flag.first_opinion and flag.first_reviewer.username == "auditor"
    # October's statements: the hospital's paid (approved by finance, paid by finance2), the pharmacy's approved.
    statements = {s.provider.code: s for s in ProviderStatement.objects.filter(month=date(2026, 10, 1))}
    assert statements["H37040200001"].status == "paid" and statements["H37040200001"].paid_by.username == "finance2"
    assert statements["P37040200001"].status == "approved" and statements["P37040200001"].approved_by.username == "finance"
    assert statements["H37040200001"].payable > 0
    # The health centre's capitation statement (four registered members, 30.00 each), left a draft.
    centre = ProviderStatement.objects.get(month=date(2026, 10, 1), provider__code="H37040200003")
    assert (centre.status, centre.capitation_members, centre.capitation_amount) == ("draft", 4, Decimal("120.00"))
    # Withdrawals: one approved and executed, one waiting; chronic registrations: three approved, one proposed.
    assert sorted(AccountDecision.objects.values_list("status", flat=True)) == ["executed", "proposed"]
    assert sorted(ChronicRegistration.objects.values_list("status", flat=True)) == ["approved"] * 3 + ["proposed"]


def test_the_demo_has_one_login_per_role():
    load_demo(today=date(2026, 11, 23))
    users = get_user_model().objects
    for role in Role:
        assert users.filter(groups__name=role.value).exists(), role
    assert not users.get(username="provider").is_staff


def test_the_demo_prints_the_provider_token_once(client):
    from io import StringIO

    from django.core.management import call_command

    from core.models import ApiToken
    from core.tokens import key_digest

    first, second = StringIO(), StringIO()
    call_command("setup_demo", stdout=first)
    line = next(text for text in first.getvalue().splitlines() if text.startswith("API token of provider"))
    key = line.rsplit(" ", 1)[-1]
    assert ApiToken.objects.get(user__username="provider").digest == key_digest(key)
    assert client.get("/api/v1/providers/me", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    call_command("setup_demo", stdout=second)
    assert key not in second.getvalue() and f"{key[:8]}…" in second.getvalue()
    assert ApiToken.objects.filter(user__username="provider").count() == 1


@pytest.mark.second_factor
def test_demo_agency_users_sign_in_with_their_fixed_authenticators(client, settings):
    """README's demo secrets, and `demo_otp_code` printing the code the login accepts."""
    import base64
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from demo.data import DEMO_OTP_KEYS

    load_demo(today=date(2026, 11, 23))
    load_demo(today=date(2026, 11, 23))  # idempotent: still one authenticator each
    for username, key in DEMO_OTP_KEYS.items():
        assert TOTPDevice.objects.filter(user__username=username, confirmed=True).count() == 1
        assert base64.b32encode(bytes.fromhex(key)).decode() in README_TEXT, username
    assert not TOTPDevice.objects.filter(user__username="provider").exists()

    out = io.StringIO()
    call_command("demo_otp_code", "finance", stdout=out)
    code = out.getvalue().strip()
    assert len(code) == 6 and code.isdigit()
    assert client.post("/admin/login/?next=/admin/", {"username": "finance", "password": "gongji-demo-2026"}).status_code == 302
    assert client.post("/otp/verify/", {"code": code, "next": "/admin/"}).status_code == 302
    assert client.get("/admin/").status_code == 200

    for stranger in ["provider", "nobody"]:
        with pytest.raises(CommandError):
            call_command("demo_otp_code", stranger, stdout=io.StringIO())
    get_user_model().objects.create_user("realstaff", password="x" * 16, is_staff=True)
    with pytest.raises(CommandError):
        call_command("demo_otp_code", "realstaff", stdout=io.StringIO())


README_TEXT = (__import__("pathlib").Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_demo_has_payment_terms_last_year_s_year_end_and_no_chosen_institutions(settings):
    """Issue 16: the payment terms page, primary-care registrations, last year's statements and
    year-end settlement (年度清算) have something true to show; chosen institutions (人员定点备案)
    are Jinan (四)'s and the demo region is Zaozhuang: none."""
    from claims.models import ChosenInstitution, ProviderStatement, YearEndSettlement
    from members.models import PrimaryCareRegistration
    from pharmacies.models import Agreement, PaymentTerms
    from supervision.models import ProviderCreditScore

    settings.REGION = "zaozhuang"
    load_demo(today=date(2026, 11, 23))
    assert set(Agreement.objects.filter(status="active").values_list("provider__code", flat=True)) == {
        "H37040200001", "H37040200002", "H37040200003"}
    methods = {(t.agreement.provider.code, t.year): (t.budget, t.capitation, t.per_disease) for t in PaymentTerms.objects.all()}
    assert methods == {
        **{("H37040200001", year): (True, False, False) for year in (2025, 2026)},
        **{("H37040200002", year): (False, False, True) for year in (2025, 2026)},
        **{("H37040200003", year): (False, True, False) for year in (2025, 2026)},
    }
    budget = PaymentTerms.objects.get(agreement__provider__code="H37040200001", year=2025)
    assert (budget.budget_amount, budget.deposit_percent) == (Decimal("3600.00"), Decimal("5.00"))
    assert PaymentTerms.objects.get(agreement__provider__code="H37040200002", year=2026).disease_standards == {"DEMO-S01": "800.00"}
    assert PrimaryCareRegistration.objects.filter(provider__code="H37040200003", valid_to__isnull=True).count() == 4
    # Last year: twelve approved statements of the city hospital, and its year-end settlement
    # prepared by the task (a draft for finance), with the year's credit grade.
    statements = ProviderStatement.objects.filter(provider__code="H37040200001", month__year=2025)
    assert sorted(statements.values_list("status", flat=True)) == ["approved"] * 12
    settlement = YearEndSettlement.objects.get()
    assert (settlement.provider.code, settlement.year, settlement.status, settlement.months) == ("H37040200001", 2025, "draft", 12)
    assert settlement.prepared_by is None and settlement.budget == Decimal("3600.00")
    # Budget 3,600 against 4,500 of funds: an overrun of 900, half the agency's; grade A returns the deposit.
    assert (settlement.budget_actual, settlement.overrun, settlement.overrun_agency) == (
        Decimal("4500.00"), Decimal("900.00"), Decimal("450.00"))
    assert (settlement.credit_year, settlement.credit_grade) == (2025, ProviderCreditScore.objects.get(
        provider=settlement.provider, year=2025).grade) == (2025, "A")
    assert settlement.deposit_returned == settlement.deposit_withheld == sum(s.deposit_withheld for s in statements) > 0
    assert settlement.payable == settlement.budget_balance + settlement.deposit_returned > 0
    assert not ChosenInstitution.objects.exists()


def test_the_portal_token_page_shows_each_demo_provider_s_token(client):
    from io import StringIO

    from django.core.management import call_command

    from core.models import ApiToken

    out = StringIO()
    call_command("setup_demo", stdout=out)
    for username in ("provider", "pharmacy"):
        assert f"API token of {username} (shown once" in out.getvalue()
        token = ApiToken.objects.get(user__username=username)
        client.force_login(token.user)
        page = client.get("/portal/token/").content.decode()
        # The page shows the expiry in Beijing time; the database hands it back in UTC.
        assert f"{token.prefix}…" in page and f"{timezone.localtime(token.expires_at):%Y-%m-%d %H:%M}" in page
