"""Chronic and special diseases in the portal (a provider's patients' registrations) and in the
monthly statements (a breakdown by benefit)."""

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from claims.models import ChronicRegistration, Claim, Disease
from claims.statements.exports import statement_rows
from claims.statements.services import statement_by_benefit, statement_close_month
from tests.factories import MemberFactory, ProviderFactory, ProviderStaffFactory

from .statement_helpers import MARCH, local, settled_claim

pytestmark = pytest.mark.django_db


def test_portal_lists_only_the_providers_patients_registrations(settings):
    settings.REGION = "jinan"
    mine, other = ProviderFactory(), ProviderFactory()
    disease = Disease.objects.create(region="jinan", code="S1", name="恶性肿瘤门诊治疗", group="special")
    ours, theirs, pending = MemberFactory(), MemberFactory(), MemberFactory()
    ChronicRegistration.objects.create(member=ours, disease=disease, valid_from=date(2023, 1, 1), status="approved",
                                       designated_provider=mine)
    ChronicRegistration.objects.create(member=theirs, disease=disease, valid_from=date(2023, 1, 1), status="approved",
                                       designated_provider=other)
    ChronicRegistration.objects.create(member=pending, disease=disease, valid_from=date(2023, 1, 1), status="proposed",
                                       designated_provider=mine)
    client = Client()
    client.force_login(ProviderStaffFactory(provider=mine).user)
    response = client.get("/portal/chronic-registrations/")
    assert response.status_code == 200
    page = response.content.decode()
    assert ours.masked_id_number in page
    assert theirs.masked_id_number not in page and pending.masked_id_number not in page
    assert ours.id_number not in page  # masked
    assert "恶性肿瘤门诊治疗" in page


def test_statement_breaks_its_figures_down_by_benefit(region, catalog):
    region("zaozhuang")
    provider = ProviderFactory()
    settled_claim(provider=provider, settled_at=local(2026, 3, 5), fund="100.00", cash="20.00")
    chronic_claim = settled_claim(provider=provider, settled_at=local(2026, 3, 6), fund="300.00", account="40.00")
    Claim.objects.filter(pk=chronic_claim.pk).update(benefit="chronic_special")
    reversed_chronic = settled_claim(provider=provider, settled_at=local(2026, 3, 7), fund="50.00",
                                     reversed_at=local(2026, 3, 8))
    Claim.objects.filter(pk=reversed_chronic.pk).update(benefit="chronic_special")
    statement_close_month(month=MARCH)
    statement = provider.statements.get()
    breakdown = {row["benefit"]: row for row in statement_by_benefit(statement)}
    assert breakdown["outpatient_pooling"]["count"] == 1 and breakdown["outpatient_pooling"]["fund"] == Decimal("100.00")
    # Two chronic settlements in March, one reversed in March: 300.00 net, 40.00 from accounts.
    assert (breakdown["chronic_special"]["count"], breakdown["chronic_special"]["reversals"]) == (2, 1)
    assert (breakdown["chronic_special"]["fund"], breakdown["chronic_special"]["accounts"]) == (Decimal("300.00"), Decimal("40.00"))
    # The benefits' net funds add up to the statement's.
    assert sum(row["fund"] for row in breakdown.values()) == statement.fund - statement.reversed_fund
    labels = [label for label, _value in statement_rows(statement)]
    assert len([label for label in labels if "门诊慢特病" in str(label)]) == 3
