"""Issue 16: a provider's staff are told when its monthly statement is approved and when its
payment is recorded, in Chinese, with the period (2026年11月), the amounts (¥ with two decimals)
and the payment reference, linked to the statement's portal page; a refused step tells no one."""

from datetime import date

import pytest
from django.core import mail

from claims.models import ProviderStatement
from claims.statements.services import statement_approve, statement_close_month, statement_record_payment
from core.errors import DutyConflict
from core.roles import Role
from pharmacies.models import Notification
from tests.factories import ProviderFactory, ProviderStaffFactory, UserFactory

from .statement_helpers import local, settled_claim

NOVEMBER = date(2026, 11, 1)


@pytest.fixture
def policy(region, catalog):
    region("zaozhuang")


def test_approval_and_payment_of_a_monthly_statement_tell_the_provider(
    policy, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.SITE_URL = "https://gongji.example.gov.cn"
    finance, other_finance = UserFactory(roles=[Role.FINANCE]), UserFactory(roles=[Role.FINANCE])
    provider, other = ProviderFactory(), ProviderFactory()
    ProviderStaffFactory(provider=provider, user__email="finance@clinic.example")
    settled_claim(provider=provider, settled_at=local(2026, 11, 3), fund="1234.56", cash="10.00")
    settled_claim(provider=provider, settled_at=local(2026, 11, 20), fund="1000.00")
    settled_claim(provider=other, settled_at=local(2026, 11, 4), fund="5.00")
    monkeypatch.setattr("claims.statements.services.timezone.localdate", lambda: date(2026, 12, 2))
    statement_close_month(month=NOVEMBER, user=finance)
    statement = ProviderStatement.objects.get(provider=provider)
    assert not Notification.objects.exists()  # a draft is the agency's business

    with django_capture_on_commit_callbacks(execute=True):
        statement_approve(statement_id=statement.pk, user=other_finance)
    (approved,) = Notification.objects.filter(provider=provider)
    assert approved.subject == "2026年11月 月度清算单已审核通过"
    assert "结算 2 笔" in approved.body and "应付金额 ¥2,234.56" in approved.body
    assert approved.link == f"/portal/statements/{statement.pk}/"
    assert mail.outbox[-1].to == ["finance@clinic.example"]
    # The e-mail links to the statement's page with its absolute address (SITE_URL).
    assert mail.outbox[-1].body == (
        f"{approved.body}\n\n在门户中查看：https://gongji.example.gov.cn/portal/statements/{statement.pk}/")

    # The approver may not record the payment: refused, no one told.
    with pytest.raises(DutyConflict):
        statement_record_payment(statement_id=statement.pk, payment_reference="BANK-2026-11-7", user=other_finance)
    assert Notification.objects.filter(provider=provider).count() == 1

    statement_record_payment(statement_id=statement.pk, payment_reference="BANK-2026-11-7", user=finance)
    paid = Notification.objects.filter(provider=provider).order_by("-pk").first()
    assert paid.subject == "2026年11月 月度清算款已拨付"
    assert "¥2,234.56" in paid.body and "BANK-2026-11-7" in paid.body
    assert paid.link == f"/portal/statements/{statement.pk}/"
    # The other provider's statement is still a draft: it was told nothing.
    assert not Notification.objects.filter(provider=other).exists()
