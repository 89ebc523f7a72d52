"""The provider's own year-end settlements (年度清算) in the portal: the list and the page show
the figures the admin's page shows (budget against actual, the overrun's and underrun's shares,
the deposit returned, the amount payable, the status), read through request.provider (another
provider's is a 404; signed out, the sign-in page); the approval's and the payment's
notifications link to the page, and their e-mails carry its absolute address."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from claims.models import YearEndSettlement
from claims.statements.year_end import year_end_approve, year_end_prepare, year_end_record_payment
from pharmacies.models import Notification
from supervision.models import ProviderCreditScore
from tests.factories import ProviderStaffFactory

from .test_payment_methods_statements import YEAR, year  # noqa: F401  (the year of settlements)
from .test_year_end import approve_year, finance  # noqa: F401

D = Decimal
SITE = "https://gongji.example.gov.cn"


def _text(response) -> str:
    """The page as a person reads it: tags dropped, white space collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def _row(text: str, label: str) -> str:
    found = re.search(re.escape(label) + r" (\S+)", text)
    return found.group(1) if found else None


@pytest.fixture
def settled(year, finance):  # noqa: F811
    """The overrun provider's year prepared from its approved statements (grade B): budget
    12,000, actual 14,820, half the 2,820 overrun the agency's, 960 of the 1,200 deposit back."""
    preparer, approver, _payer = finance
    approve_year(year["over"], approver)
    ProviderCreditScore.objects.create(provider=year["over"], year=YEAR, score=80, grade="B")
    settlement = year_end_prepare(provider=year["over"], year=YEAR, user=preparer)
    assert (settlement.budget_actual, settlement.overrun_agency, settlement.payable) == (
        D("14820.00"), D("1410.00"), D("2370.00"))
    return settlement


def test_the_providers_staff_read_their_year_end_settlement_with_its_figures(client, settled, year):  # noqa: F811
    staff = ProviderStaffFactory(provider=year["over"]).user
    client.force_login(staff)

    listing = client.get(reverse("portal_claims:year_ends"))
    assert listing.status_code == 200
    assert list(listing.context["settlements"]) == [settled]
    row = _text(listing)
    assert f"{YEAR} 草稿 12000.00 14820.00 2820.00 0.00 1410.00 960.00 2370.00 —" in row
    assert f'href="/portal/year-end/{settled.pk}/"' in listing.content.decode()
    # The navigation names the page.
    assert '<a href="/portal/year-end/" class="current">年度清算</a>' in listing.content.decode()

    page = client.get(reverse("portal_claims:year_end", args=[settled.pk]))
    assert page.status_code == 200
    text = _text(page)
    assert "草稿：医保经办机构审核通过前，各项金额仍可能变动。" in text
    # The lines of the admin's print and XLSX (exports.year_end_rows), each with its value.
    for label, value in [
        ("状态", "草稿"), ("年度预算总额", "12000.00"), ("计入总额预算的基金", "14820.00"),
        ("超支", "2820.00"), ("超支中医保分担部分", "1410.00"), ("结余", "0.00"), ("结余中机构留用部分", "0.00"),
        ("年度预算清算额", "13410.00"), ("预算清算差额", "1410.00"), ("信用等级", "B"),
        ("返还保证金", "960.00"), ("扣留保证金", "240.00"), ("应拨付金额（预算结算差额＋返还保证金）", "2370.00"),
    ]:
        assert _row(text, label) == value, label
    for label, value in page.context["rows"]:
        assert f"{label} {value}".strip() in text, label

    # The print and the XLSX of the same settlement.
    assert client.get(reverse("portal_claims:year_end_print", args=[settled.pk])).status_code == 200
    xlsx = client.get(reverse("portal_claims:year_end_xlsx", args=[settled.pk]))
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_another_provider_gets_404_and_a_signed_out_visitor_the_sign_in_page(client, settled, year):  # noqa: F811
    client.force_login(ProviderStaffFactory(provider=year["under"]).user)
    assert list(client.get(reverse("portal_claims:year_ends")).context["settlements"]) == []
    for name in ("portal_claims:year_end", "portal_claims:year_end_print", "portal_claims:year_end_xlsx"):
        assert client.get(reverse(name, args=[settled.pk])).status_code == 404, name

    client.logout()
    for url in (reverse("portal_claims:year_ends"), reverse("portal_claims:year_end", args=[settled.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:login") + "?next=")


def test_the_notifications_link_to_the_page_and_the_emails_carry_its_address(
    settled, year, finance, settings, django_capture_on_commit_callbacks  # noqa: F811
):
    settings.SITE_URL = SITE
    _preparer, approver, payer = finance
    ProviderStaffFactory(provider=year["over"], user__email="finance@over.example")
    with django_capture_on_commit_callbacks(execute=True):
        year_end_approve(settlement_id=settled.pk, user=approver)
    with django_capture_on_commit_callbacks(execute=True):
        year_end_record_payment(settlement_id=settled.pk, payment_reference="BANK-1", user=payer)
    page = f"/portal/year-end/{settled.pk}/"
    approved, paid = Notification.objects.filter(provider=year["over"], subject__contains="年度清算").order_by("pk")
    assert approved.link == page and paid.link == page
    assert [m.subject for m in mail.outbox] == [approved.subject, paid.subject]
    for message, notification in zip(mail.outbox, (approved, paid), strict=True):
        assert message.to == ["finance@over.example"]
        assert message.body == f"{notification.body}\n\n在门户中查看：{SITE}{page}"
    assert YearEndSettlement.objects.get(pk=settled.pk).status == "paid"
