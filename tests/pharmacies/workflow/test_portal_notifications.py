"""Issue 16: every portal page shows "通知 (N)" with the provider's unread notifications (one
COUNT query), the notifications page links each to its object's page, and a notification is
marked read one by one or all at once; another provider's staff can neither see nor mark it."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.errors import Forbidden, NotFound
from core.models import AuditEvent
from core.roles import Role
from pharmacies.models import Notification
from pharmacies.services import notifications_mark_read, notify_provider
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MESSAGE = ("Monthly statement for %(period)s approved", "Amount payable %(payable)s.")


def _tell(provider, n, link="/portal/statements/7/"):
    return [notify_provider(provider, MESSAGE, {"period": "2026年11月", "payable": f"¥{i}.00"}, link=link)
            for i in range(n)]


def _badge(html: str) -> str | None:
    found = re.search(r'通知 <span class="badge"[^>]*>\((\d+)\)</span>', html)
    return found.group(1) if found else None


def test_every_portal_page_shows_the_unread_count_in_one_count_query(client, pharmacy, pharmacy_user, other_provider_user):
    _tell(pharmacy, 3)
    _tell(other_provider_user.provider_staff.provider, 2)  # another provider's: never counted here
    client.force_login(pharmacy_user)
    for name in ("portal:home", "portal:agreements", "portal:token"):
        with CaptureQueriesContext(connection) as queries:
            page = client.get(reverse(name))
        assert page.status_code == 200 and page.context["unread_count"] == 3
        assert _badge(page.content.decode()) == "3", name
        counts = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "pharmacies_notification" in q["sql"]]
        assert len(counts) == 1, counts


def test_the_notifications_page_links_each_notification_and_marks_one_or_all_read(client, pharmacy, pharmacy_user):
    first, second, third = _tell(pharmacy, 3)
    client.force_login(pharmacy_user)
    page = client.get(reverse("portal:notifications")).content.decode()
    assert page.count('href="/portal/statements/7/"') == 3 and "¥2.00" in page
    home = client.get(reverse("portal:home")).content.decode()
    assert '<a href="/portal/statements/7/">2026年11月 月度清算单已审核通过</a>' in home

    response = client.post(reverse("portal:notifications"), {"notification": second.pk})
    assert response.status_code == 302
    assert list(Notification.objects.filter(read_at__isnull=False)) == [second]
    assert _badge(client.get(reverse("portal:home")).content.decode()) == "2"

    client.post(reverse("portal:notifications"))
    assert not Notification.objects.filter(provider=pharmacy, read_at__isnull=True).exists()
    assert _badge(client.get(reverse("portal:home")).content.decode()) is None


def test_another_providers_staff_neither_see_nor_mark_the_notifications(client, pharmacy, other_provider_user):
    (mine,) = _tell(pharmacy, 1)
    client.force_login(other_provider_user)
    page = client.get(reverse("portal:notifications"))
    assert list(page.context["notifications"]) == [] and "¥0.00" not in page.content.decode()
    assert page.context["unread_count"] == 0

    response = client.post(reverse("portal:notifications"), {"notification": mine.pk})
    assert response.status_code == 404
    response = client.post(reverse("portal:notifications"), {"notification": "x"})
    assert response.status_code == 404
    client.post(reverse("portal:notifications"))  # "mark all" marks only its own (none)
    mine.refresh_from_db()
    assert mine.read_at is None


def test_no_provider_means_no_notification():
    """A cross-region clearing statement has no provider to tell: nothing is written."""
    assert notify_provider(None, MESSAGE, {"period": "2026年11月", "payable": "¥1.00"}) is None
    assert not Notification.objects.exists()


def _read_events():
    return list(AuditEvent.objects.filter(action="notification.read").order_by("pk").values_list(
        "actor_id", "target_type", "target_id", "target_label", "details"))


def test_marking_read_is_audited_with_the_actor_and_the_notification(client, pharmacy, pharmacy_user):
    first, second, third = _tell(pharmacy, 3)
    client.force_login(pharmacy_user)
    before = timezone.now()

    client.post(reverse("portal:notifications"), {"notification": second.pk})
    second.refresh_from_db()
    assert second.read_at is not None and second.read_at >= before
    (event,) = AuditEvent.objects.filter(action="notification.read")
    assert event.at >= before
    assert _read_events() == [
        (pharmacy_user.pk, "pharmacies.notification", str(second.pk), "2026年11月 月度清算单已审核通过",
         {"provider": pharmacy.pk}),
    ]

    # Marking it again changes nothing and records nothing.
    client.post(reverse("portal:notifications"), {"notification": second.pk})
    assert AuditEvent.objects.filter(action="notification.read").count() == 1

    # "Mark all": one event per notification it marks, none for the one already read.
    client.post(reverse("portal:notifications"))
    assert [(actor, target) for actor, _type, target, _label, _details in _read_events()] == [
        (pharmacy_user.pk, str(second.pk)), (pharmacy_user.pk, str(first.pk)), (pharmacy_user.pk, str(third.pk)),
    ]
    client.post(reverse("portal:notifications"))  # nothing unread: nothing recorded
    assert AuditEvent.objects.filter(action="notification.read").count() == 3


def test_marking_another_providers_notification_is_refused_and_writes_nothing(client, pharmacy, other_provider_user):
    (mine,) = _tell(pharmacy, 1)
    client.force_login(other_provider_user)
    events = AuditEvent.objects.count()  # the sign-in's own
    assert client.post(reverse("portal:notifications"), {"notification": mine.pk}).status_code == 404
    with pytest.raises(NotFound):
        notifications_mark_read(actor=other_provider_user, provider=pharmacy, notification_id=mine.pk)
    with pytest.raises(NotFound):  # nor all of them, naming the other provider
        notifications_mark_read(actor=other_provider_user, provider=pharmacy)
    mine.refresh_from_db()
    assert mine.read_at is None
    assert AuditEvent.objects.count() == events


def test_agency_staff_never_mark_a_providers_notifications(pharmacy):
    (mine,) = _tell(pharmacy, 1)
    with pytest.raises(Forbidden):
        notifications_mark_read(actor=UserFactory(roles=[Role.CASE_WORKER]), provider=pharmacy)
    mine.refresh_from_db()
    assert mine.read_at is None and not AuditEvent.objects.exists()


def test_a_linked_user_whose_group_was_unticked_still_marks_read(client, pharmacy, pharmacy_user):
    """The link to a provider is the 定点机构 role (the user form and roles_of count it so): a
    provider user whose group the administrator unticked keeps the portal, and marking a
    notification read works instead of answering 500."""
    (mine,) = _tell(pharmacy, 1)
    pharmacy_user.groups.clear()
    client.force_login(pharmacy_user)
    response = client.post(reverse("portal:notifications"), {"notification": mine.pk})
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert [(actor, target) for actor, _type, target, _label, _details in _read_events()] == [
        (pharmacy_user.pk, str(mine.pk))]
