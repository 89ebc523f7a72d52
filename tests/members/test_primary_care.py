"""Primary-care registration (基层首诊): the provider a member chose, on which capitation pays
(Ziyang 第二十二条, Yangzhou 三(二), Jinan (十六) 按人头付费). Effective-dated; a change ends the
current registration the day before; the history is never rewritten."""

from datetime import date

import pytest
from django.urls import reverse

from core.errors import Conflict
from core.models import AuditEvent
from core.roles import Role
from members.models import PrimaryCareRegistration
from members.services import primary_care_end, primary_care_provider_on, primary_care_register
from tests.admin.test_member_admin import _member_post_data
from tests.factories import MemberFactory, ProviderFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def case_worker():
    return UserFactory(roles=[Role.CASE_WORKER])


def test_register_change_and_history(case_worker):
    member, first, second = MemberFactory(), ProviderFactory(), ProviderFactory()
    primary_care_register(member=member, provider=first, valid_from=date(2026, 1, 1), user=case_worker)
    primary_care_register(member=member, provider=second, valid_from=date(2026, 7, 15), user=case_worker)
    rows = list(PrimaryCareRegistration.objects.filter(member=member).order_by("valid_from")
                .values_list("provider_id", "valid_from", "valid_to"))
    assert rows == [(first.pk, date(2026, 1, 1), date(2026, 7, 14)), (second.pk, date(2026, 7, 15), None)]
    assert primary_care_provider_on(member, date(2026, 7, 14)).provider_id == first.pk
    assert primary_care_provider_on(member, date(2026, 7, 15)).provider_id == second.pk
    assert primary_care_provider_on(member, date(2025, 12, 31)) is None
    primary_care_end(member=member, valid_to=date(2026, 12, 31), user=case_worker)
    assert primary_care_provider_on(member, date(2027, 1, 1)) is None
    assert AuditEvent.objects.filter(action="primary_care.register").count() == 2
    assert AuditEvent.objects.filter(action="primary_care.end").count() == 1


def test_history_is_never_rewritten_and_nothing_is_written_on_refusal(case_worker):
    member, first, second = MemberFactory(), ProviderFactory(), ProviderFactory()
    primary_care_register(member=member, provider=first, valid_from=date(2026, 3, 1), user=case_worker)
    with pytest.raises(Conflict) as caught:
        primary_care_register(member=member, provider=second, valid_from=date(2026, 3, 1), user=case_worker)
    assert caught.value.code == "primary_care_not_after_latest" and "valid_from" in caught.value.details
    with pytest.raises(Conflict) as caught:
        primary_care_register(member=member, provider=first, valid_from=date(2026, 4, 1), user=case_worker)
    assert caught.value.code == "primary_care_same_provider"
    assert list(PrimaryCareRegistration.objects.values_list("provider_id", "valid_to")) == [(first.pk, None)]
    assert AuditEvent.objects.filter(action="primary_care.register").count() == 1


def test_the_member_page_registers_and_changes_the_provider(client):
    user = UserFactory(roles=[Role.CASE_WORKER])
    client.force_login(user)
    member, first, second = MemberFactory(), ProviderFactory(name="社区卫生服务中心"), ProviderFactory()
    url = reverse("admin:members_member_change", args=[member.pk])
    response = client.post(url, _member_post_data(member, **{
        "primary_care-TOTAL_FORMS": "1", "primary_care-INITIAL_FORMS": "0",
        "primary_care-0-provider": str(first.pk), "primary_care-0-valid_from": "2026-01-01",
    }))
    assert response.status_code == 302, response.context and response.context["errors"]
    current = PrimaryCareRegistration.objects.get(member=member)
    assert (current.provider, current.registered_by) == (first, user)
    # A change dated before the current registration is refused on its row; nothing written.
    bad = _member_post_data(member, **{
        "primary_care-TOTAL_FORMS": "2", "primary_care-INITIAL_FORMS": "1",
        "primary_care-0-id": str(current.pk), "primary_care-0-member": str(member.pk),
        "primary_care-1-provider": str(second.pk), "primary_care-1-valid_from": "2025-06-01",
    })
    response = client.post(url, bad)
    assert response.status_code == 200
    assert PrimaryCareRegistration.objects.filter(member=member).count() == 1
    bad["primary_care-1-valid_from"] = "2026-06-01"
    response = client.post(url, bad)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert list(PrimaryCareRegistration.objects.filter(member=member).order_by("valid_from")
                .values_list("provider_id", "valid_to")) == [(first.pk, date(2026, 5, 31)), (second.pk, None)]
    page = client.get(url).content.decode()
    assert "社区卫生服务中心" in page
