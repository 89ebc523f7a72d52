"""Portal and admin pages of the monthly statements: own provider only (another's is a 404),
search and exports, print, reconciliation form; admin approval action and payment."""

from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from claims.models import ProviderStatement, Reconciliation
from claims.statements.services import statement_close_month
from core.roles import Role
from tests.factories import ProviderFactory, ProviderStaffFactory, UserFactory

from .statement_helpers import MARCH, local, settled_claim


@pytest.fixture
def setup(region, catalog):
    region("zaozhuang")
    mine, theirs = ProviderFactory(), ProviderFactory()
    member = settled_claim(provider=mine, settled_at=local(2026, 3, 3), fund="10.00", external_ref="MINE-1").member
    settled_claim(provider=mine, settled_at=local(2026, 3, 20), fund="2.50", cash="1.00", external_ref="MINE-2")
    settled_claim(provider=theirs, settled_at=local(2026, 3, 3), fund="99.00", external_ref="THEIRS-1")
    statement_close_month(month=MARCH)
    return {"mine": mine, "theirs": theirs, "member": member}


@pytest.fixture
def portal(setup):
    client = Client()
    client.force_login(ProviderStaffFactory(provider=setup["mine"]).user)
    return client


def test_settlements_page_lists_only_own_and_searches(portal, setup):
    url = reverse("portal_claims:settlements")
    page = portal.get(url).content.decode()
    assert "MINE-1" in page and "MINE-2" in page and "THEIRS-1" not in page
    assert setup["member"].id_number not in page  # masked only
    masked = setup["member"].masked_id_number
    assert masked in page
    page = portal.get(url, {"member": masked}).content.decode()
    assert "MINE-1" in page and "MINE-2" not in page
    page = portal.get(url, {"member": setup["member"].id_number}).content.decode()
    assert "MINE-1" in page and "MINE-2" not in page
    page = portal.get(url, {"external_ref": "MINE-2"}).content.decode()
    assert "MINE-2" in page and "MINE-1" not in page
    page = portal.get(url, {"settled_from": "2026-03-10", "settled_to": "2026-03-31"}).content.decode()
    assert "MINE-2" in page and "MINE-1" not in page
    assert portal.get(url, {"external_ref": "THEIRS-1"}).context["claims"] == []


def test_settlements_export_csv_and_xlsx_own_only(portal):
    url = reverse("portal_claims:settlements")
    response = portal.get(url, {"export": "csv"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "MINE-1" in text and "MINE-2" in text and "THEIRS-1" not in text
    response = portal.get(url, {"export": "xlsx", "external_ref": "MINE-2"})
    sheet = load_workbook(BytesIO(response.content)).active
    rows = list(sheet.values)
    assert rows[0][1] == "external_ref" and [r[1] for r in rows[1:]] == ["MINE-2"]


def test_statement_pages_own_provider_only(portal, setup):
    mine = ProviderStatement.objects.get(provider=setup["mine"])
    theirs = ProviderStatement.objects.get(provider=setup["theirs"])
    listing = portal.get(reverse("portal_claims:statements")).content.decode()
    assert reverse("portal_claims:statement", args=[mine.pk]) in listing
    assert reverse("portal_claims:statement", args=[theirs.pk]) not in listing
    for name in ("statement", "statement_print", "statement_xlsx"):
        assert portal.get(reverse(f"portal_claims:{name}", args=[mine.pk])).status_code == 200
        assert portal.get(reverse(f"portal_claims:{name}", args=[theirs.pk])).status_code == 404
    printed = portal.get(reverse("portal_claims:statement_print", args=[mine.pk])).content.decode()
    assert "12.50" in printed
    workbook = load_workbook(BytesIO(portal.get(reverse("portal_claims:statement_xlsx", args=[mine.pk])).content))
    header, values = list(workbook.worksheets[0].values)
    # settlements, total, fund, …, amount payable (statement_exports.statement_rows order)
    assert (values[3], values[4], values[5], values[16]) == (2, 13.5, 12.5, 12.5)


def test_reconciliation_form_with_a_list_and_other_providers_result_is_404(portal, setup):
    csv = "external_ref,total,fund,account,cash\nMINE-1,10.00,10.00,0.00,0.00\nMINE-2,3.50,2.50,0.00,0.00\n"
    response = portal.post(reverse("portal_claims:reconciliations"), {
        "period_from": "2026-03-01", "period_to": "2026-03-31", "count": "2", "total": "13.50", "fund": "12.50",
        "account": "0.00", "cash": "1.00", "settlements_file": SimpleUploadedFile("list.csv", csv.encode()),
    })
    reconciliation = Reconciliation.objects.get()
    assert response.status_code == 302
    assert reconciliation.provider == setup["mine"]
    assert reconciliation.result == "mismatch"  # MINE-2's cash differs: 0.00 listed, 1.00 settled
    assert [d["external_ref"] for d in reconciliation.differences["different_amounts"]] == ["MINE-2"]
    assert "MINE-2" in portal.get(response["Location"]).content.decode()

    other = Client()
    other.force_login(ProviderStaffFactory(provider=setup["theirs"]).user)
    assert other.get(reverse("portal_claims:reconciliation", args=[reconciliation.pk])).status_code == 404


def test_admin_approval_by_a_second_finance_officer_print_and_payment(setup):
    statement = ProviderStatement.objects.get(provider=setup["mine"])
    client = Client()
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    changelist = reverse("admin:claims_providerstatement_changelist")
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "approve_selected", "_selected_action": [statement.pk]})
    statement.refresh_from_db()
    assert statement.status == "approved"
    assert client.get(reverse("admin:claims_providerstatement_print", args=[statement.pk])).status_code == 200
    assert client.get(reverse("admin:claims_providerstatement_xlsx", args=[statement.pk])).status_code == 200
    # 会计 and 出纳 differ (Ziyang 第十九条): another finance officer records the payment.
    client.force_login(UserFactory(roles=[Role.FINANCE]))
    response = client.post(reverse("admin:claims_providerstatement_pay", args=[statement.pk]), {"payment_reference": "BANK-7"})
    assert response.status_code == 302
    statement.refresh_from_db()
    assert (statement.status, statement.payment_reference) == ("paid", "BANK-7")


def test_admin_approval_by_a_case_worker_changes_nothing(setup):
    statement = ProviderStatement.objects.get(provider=setup["mine"])
    client = Client()
    client.force_login(UserFactory(roles=[Role.CASE_WORKER]))
    client.post(reverse("admin:claims_providerstatement_changelist"),
                {"action": "approve_selected", "_selected_action": [statement.pk]})
    statement.refresh_from_db()
    assert statement.status == "draft"


@pytest.mark.parametrize("name", ["settlements", "statements", "reconciliations"])
def test_portal_pages_need_a_provider_user(setup, name):
    url = reverse(f"portal_claims:{name}")
    anonymous = Client()
    response = anonymous.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))
    staff = Client()
    staff.force_login(UserFactory(roles=[Role.FINANCE]))
    assert staff.get(url).status_code == 403
