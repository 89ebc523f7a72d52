"""Issue 16: the provider's staff are told when a flag is confirmed, an appeal decided and a
deduction made: a portal notification in Chinese naming the provider's own transaction number
and the amount, linked to the flag's portal page, written in the service's transaction (a
rolled-back confirmation tells no one) and e-mailed after commit."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import transaction

from pharmacies.models import Notification
from supervision.models import Flag
from supervision.monitoring import monitoring_run
from supervision.services import flag_appeal, flag_confirm, flag_decide_appeal, flag_deduct, flag_first_review
from tests.factories import ProviderStaffFactory
from tests.supervision.helpers import claim, item, member, pharmacy

pytestmark = pytest.mark.django_db
DAY = date(2024, 3, 8)


@pytest.fixture
def raised():
    shop = pharmacy()
    settlement = claim(member(), DAY, [(item("DRUG-P", platform_price="10.00"), 5, "12.00")], provider=shop)
    monitoring_run(date_from=DAY, date_to=DAY, codes=["price_above_platform"])
    flag = Flag.objects.get()
    flag.ref = settlement.external_ref
    return flag


def _notes(provider):
    return list(Notification.objects.filter(provider=provider).order_by("pk"))


def test_confirmation_appeal_decision_and_deduction_each_tell_the_provider(
    raised, auditors, deductions, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://gongji.example.gov.cn"
    first, second, third = auditors
    staff = ProviderStaffFactory(provider=raised.provider, user__email="staff@shop.example").user
    flag_first_review(flag=raised, user=first, opinion="价格高于挂网价")
    assert _notes(raised.provider) == []  # a first review is internal

    with django_capture_on_commit_callbacks(execute=True):
        flag_confirm(flag=raised, user=second, amount="1234.5", today=DAY, note="高于挂网价销售")
    (confirmed,) = _notes(raised.provider)
    assert confirmed.subject.startswith("违规已认定")
    assert raised.ref in confirmed.body and "¥1,234.50" in confirmed.body and "高于挂网价销售" in confirmed.body
    assert "2024-03-23" in confirmed.body  # the appeal deadline (15 days)
    assert f"flag:{raised.pk}" not in confirmed.body
    assert confirmed.link == f"/portal/flags/{raised.pk}/" and confirmed.read_at is None
    assert mail.outbox[-1].to == ["staff@shop.example"] and mail.outbox[-1].subject == confirmed.subject
    # The e-mail: the notification's text, then the flag page's absolute address (SITE_URL).
    assert mail.outbox[-1].body == f"{confirmed.body}\n\n在门户中查看：https://gongji.example.gov.cn/portal/flags/{raised.pk}/"

    Flag.objects.filter(pk=raised.pk).update(appeal_deadline=date.today() + timedelta(days=1))
    flag_appeal(flag=raised, user=staff, reason="按挂网价结算")
    assert len(_notes(raised.provider)) == 1  # the provider's own appeal is not told back to it

    flag_decide_appeal(flag=raised, user=third, upheld=False, amount="600", note="部分采纳，金额调整")
    rejected = _notes(raised.provider)[-1]
    assert rejected.subject.startswith("申诉驳回")
    assert raised.ref in rejected.body and "¥600.00" in rejected.body and "部分采纳，金额调整" in rejected.body
    assert rejected.link == f"/portal/flags/{raised.pk}/"

    flag_deduct(flag=raised, user=third)
    deducted = _notes(raised.provider)[-1]
    assert "¥600.00" in deducted.subject and raised.ref in deducted.body and "扣款" in deducted.body
    assert len(_notes(raised.provider)) == 3


def test_an_upheld_appeal_says_nothing_is_deducted_and_why(raised, auditors):
    first, second, third = auditors
    staff = ProviderStaffFactory(provider=raised.provider).user
    flag_first_review(flag=raised, user=first, opinion="初审意见")
    flag_confirm(flag=raised, user=second, amount="10.00", today=date.today(), note="复审意见")
    flag_appeal(flag=raised, user=staff, reason="按挂网价结算")
    flag_decide_appeal(flag=raised, user=third, upheld=True, note="挂网价已调整，申诉成立")
    upheld = _notes(raised.provider)[-1]
    assert upheld.subject.startswith("申诉成立")
    assert raised.ref in upheld.body and "不予扣款" in upheld.body and "挂网价已调整，申诉成立" in upheld.body


def test_a_rolled_back_confirmation_notifies_nobody(raised, auditors, django_capture_on_commit_callbacks):
    first, second, _third = auditors
    ProviderStaffFactory(provider=raised.provider, user__email="staff@shop.example")
    flag_first_review(flag=raised, user=first, opinion="初审意见")

    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Abort):
            with transaction.atomic():
                flag_confirm(flag=raised, user=second, amount="10.00", today=DAY, note="复审意见")
                assert len(_notes(raised.provider)) == 1  # written in the same transaction
                raise Abort
    raised.refresh_from_db()
    assert raised.status == "first_reviewed"
    assert _notes(raised.provider) == [] and callbacks == [] and mail.outbox == []
