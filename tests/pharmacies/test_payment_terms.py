"""An agreement's payment terms for a year (Zaozhuang 第十六条, Ziyang 第二十二条, Yangzhou 三(二),
Jinan (十六)): checked field by field, saved and audited through payment_terms_set, and the admin's
add page submits through it."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from core.errors import DomainError
from core.models import AuditEvent
from core.roles import Role
from pharmacies.models import Agreement, PaymentTerms
from pharmacies.services import payment_terms_for, payment_terms_set
from tests.factories import ProviderFactory, UserFactory

D = Decimal


@pytest.fixture
def case_worker(db):
    return UserFactory(roles=[Role.CASE_WORKER])


@pytest.fixture
def agreement(case_worker):
    return Agreement.objects.create(
        provider=ProviderFactory(), period_from=date(2026, 1, 1), period_to=date(2027, 12, 31),
        payment_method=Agreement.PaymentMethod.PER_ITEM, outpatient_pooling=True, status=Agreement.Status.ACTIVE,
        signed_by=case_worker,
    )


BUDGET = {"budget": True, "budget_amount": "120000.00", "deposit_percent": "10", "overrun_provider_percent": "50",
          "underrun_retained_percent": "40", "deposit_return_percent": {"A": "100", "B": "80"}}


def test_terms_are_set_audited_and_replaced_for_the_year(agreement, case_worker):
    terms = payment_terms_set(agreement=agreement, year=2026, values=BUDGET, actor=case_worker)
    assert (terms.budget, terms.budget_amount, terms.deposit_percent) == (True, D("120000.00"), D("10.00"))
    assert terms.deposit_return_percent == {"A": "100.00", "B": "80.00"}
    again = payment_terms_set(agreement=agreement, year=2026, values={**BUDGET, "budget_amount": "90000"}, actor=case_worker)
    assert again.pk == terms.pk and PaymentTerms.objects.get().budget_amount == D("90000.00")
    events = AuditEvent.objects.filter(action="payment_terms.set").order_by("pk")
    assert [event.details["created"] for event in events] == [True, False]
    assert events[0].details["methods"] == ["budget"]
    assert payment_terms_for([agreement.provider_id], 2026, date(2026, 3, 1))[agreement.provider_id].pk == terms.pk
    assert payment_terms_for([agreement.provider_id], 2025, date(2025, 3, 1)) == {}


@pytest.mark.parametrize(("values", "field"), [
    ({"budget": True}, "budget_amount"),
    ({**BUDGET, "deposit_percent": "101"}, "deposit_percent"),
    ({**BUDGET, "budget_amount": "12.345"}, "budget_amount"),
    ({**BUDGET, "budget_schedule": ["10000"] * 11}, "budget_schedule"),
    ({**BUDGET, "budget_schedule": ["10000"] * 12 + []}, None),  # adds up: accepted
    ({**BUDGET, "budget_schedule": ["10000"] * 11 + ["9999"]}, "budget_schedule"),
    ({**BUDGET, "deposit_return_percent": {"E": "100"}}, "deposit_return_percent.E"),
    ({"capitation": True}, "capitation_rate"),
    ({"per_disease": True}, "disease_standards"),
    ({"per_disease": True, "disease_standards": {"I10": "-5"}}, "disease_standards.I10"),
])
def test_each_bad_term_is_refused_naming_its_field_and_nothing_is_written(agreement, case_worker, values, field):
    if field is None:
        payment_terms_set(agreement=agreement, year=2026, values=values, actor=case_worker)
        assert PaymentTerms.objects.count() == 1
        return
    with pytest.raises(DomainError) as caught:
        payment_terms_set(agreement=agreement, year=2026, values=values, actor=case_worker)
    assert field in caught.value.details
    assert not PaymentTerms.objects.exists() and not AuditEvent.objects.filter(action="payment_terms.set").exists()


def test_a_year_outside_the_agreement_is_refused(agreement, case_worker):
    with pytest.raises(DomainError) as caught:
        payment_terms_set(agreement=agreement, year=2028, values=BUDGET, actor=case_worker)
    assert caught.value.details["year"] == 2028 and not PaymentTerms.objects.exists()


def test_the_admin_add_page_saves_through_the_service_and_shows_a_bad_field(client, agreement, case_worker):
    client.force_login(case_worker)
    url = reverse("admin:pharmacies_paymentterms_add")
    assert client.get(url).status_code == 200
    base = {"agreement": agreement.pk, "year": "2026", "budget_schedule": "[]", "deposit_percent": "5",
            "overrun_provider_percent": "100", "underrun_retained_percent": "0", "deposit_return_percent": '{"A": "100"}',
            "disease_standards": "{}", "capitation": "on", "capitation_rate": ""}
    response = client.post(url, base)
    assert response.status_code == 200
    assert "capitation_rate" in response.context["adminform"].form.errors
    assert not PaymentTerms.objects.exists()
    response = client.post(url, {**base, "capitation_rate": "12.50"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    terms = PaymentTerms.objects.get()
    assert (terms.capitation, terms.capitation_rate, terms.created_by) == (True, D("12.50"), case_worker)
    assert AuditEvent.objects.filter(action="payment_terms.set", actor=case_worker).count() == 1
    assert client.get(reverse("admin:pharmacies_paymentterms_change", args=[terms.pk])).status_code == 200
