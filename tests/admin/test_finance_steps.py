"""Approving and paying statements and year-end settlements are finance's (core/roles.py): the
approval action, the "Record payment" link and the payment page are offered to finance only,
and a direct POST from any other role is refused (403) with nothing written. Found by the admin
write-path test: they were offered to everyone who could view the rows, and the service refused."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from claims.models import ProviderStatement, YearEndSettlement
from core.models import AuditEvent
from core.roles import Role
from tests.factories import ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db


def _statement(status="draft"):
    statement = ProviderStatement.objects.create(provider=ProviderFactory(), month=date(2026, 10, 1),
                                                 generated_at=timezone.now())
    if status == "approved":
        ProviderStatement.objects.filter(pk=statement.pk).update(status=status, approved_by=UserFactory(),
                                                                 approved_at=timezone.now())
    return statement


def _year_end(status="draft"):
    from pharmacies.models import Agreement, PaymentTerms

    provider = ProviderFactory()
    agreement = Agreement.objects.create(
        provider=provider, period_from=date(2025, 1, 1), period_to=date(2026, 12, 31),
        payment_method=Agreement.PaymentMethod.PER_ITEM, outpatient_pooling=True, status=Agreement.Status.ACTIVE,
        signed_by=UserFactory())
    terms = PaymentTerms.objects.create(agreement=agreement, year=2025, budget=True, budget_amount=Decimal("1200.00"))
    settlement = YearEndSettlement.objects.create(provider=provider, year=2025, terms=terms, prepared_at=timezone.now())
    if status == "approved":
        YearEndSettlement.objects.filter(pk=settlement.pk).update(status=status, approved_by=UserFactory(),
                                                                  approved_at=timezone.now())
    return settlement


CASES = [("providerstatement", _statement), ("yearendsettlement", _year_end)]


@pytest.mark.parametrize(("model", "make"), CASES)
@pytest.mark.parametrize("role", [Role.CASE_WORKER, Role.AUDITOR, Role.ADMINISTRATOR])
def test_other_roles_are_not_offered_approval_or_payment(client, model, make, role):
    draft, approved = make(), make("approved")
    client.force_login(UserFactory(roles=[role]))
    changelist = client.get(reverse(f"admin:claims_{model}_changelist"))
    assert changelist.status_code == 200
    actions = [value for value, _label in changelist.context["action_form"].fields["action"].choices]
    assert "approve_selected" not in actions and "export_xlsx" in actions
    pay = reverse(f"admin:claims_{model}_pay", args=[approved.pk])
    assert pay not in changelist.content.decode()
    change = client.get(reverse(f"admin:claims_{model}_change", args=[approved.pk]))
    assert change.status_code == 200 and pay not in change.content.decode()

    events = AuditEvent.objects.count()
    assert client.get(pay).status_code == 403
    assert client.post(pay, {"payment_reference": "BANK-9"}).status_code == 403
    client.post(reverse(f"admin:claims_{model}_changelist"),
                {"action": "approve_selected", "_selected_action": [draft.pk], "index": "0"})
    draft.refresh_from_db()
    approved.refresh_from_db()
    assert (draft.status, approved.status, approved.payment_reference) == ("draft", "approved", "")
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(("model", "make"), CASES)
def test_finance_is_offered_approval_and_payment_and_both_work(client, model, make):
    draft, approved = make(), make("approved")
    finance = UserFactory(roles=[Role.FINANCE])
    client.force_login(finance)
    changelist = client.get(reverse(f"admin:claims_{model}_changelist"))
    actions = [value for value, _label in changelist.context["action_form"].fields["action"].choices]
    assert "approve_selected" in actions
    pay = reverse(f"admin:claims_{model}_pay", args=[approved.pk])
    assert pay in changelist.content.decode()
    assert pay in client.get(reverse(f"admin:claims_{model}_change", args=[approved.pk])).content.decode()

    response = client.post(reverse(f"admin:claims_{model}_changelist"),
                           {"action": "approve_selected", "_selected_action": [draft.pk], "index": "0"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.approved_by) == ("approved", finance)
    assert client.post(pay, {"payment_reference": "BANK-9"}).status_code == 302
    approved.refresh_from_db()
    assert (approved.status, approved.paid_by, approved.payment_reference) == ("paid", finance, "BANK-9")
    prefix = "statement" if model == "providerstatement" else "year_end"
    assert AuditEvent.objects.filter(action=f"{prefix}.approve", target_id=str(draft.pk), actor=finance).exists()
    assert AuditEvent.objects.filter(action=f"{prefix}.pay", target_id=str(approved.pk), actor=finance).exists()
