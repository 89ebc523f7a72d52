"""系统管理 cannot take over an account by changing its e-mail address and then sending the
password reset link there: another person's address is read-only to 系统管理 once that person
has a password of their own; a superuser changes it (audited)."""

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse

from core.models import AuditEvent
from core.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _change(client, user, email):
    groups = [g.pk for g in Group.objects.filter(user=user)]
    return client.post(reverse("admin:auth_user_change", args=[user.pk]), {
        "username": user.username, "first_name": "", "last_name": "", "email": email,
        "is_active": "on", "is_staff": "on", "groups": groups,
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })


@pytest.fixture
def worker():
    user = UserFactory(roles=[Role.CASE_WORKER], email="worker@example.com", is_staff=True)
    user.set_password("the-workers-own-pass")
    user.save()
    return user


def test_the_administrator_cannot_redirect_a_colleagues_reset_link(client, worker):
    client.force_login(UserFactory(roles=[Role.ADMINISTRATOR], is_staff=True))
    page = client.get(reverse("admin:auth_user_change", args=[worker.pk]))
    assert "email" in page.context["adminform"].readonly_fields
    response = _change(client, worker, "sysadmin@evil.example")
    assert response.status_code == 302
    worker.refresh_from_db()
    assert worker.email == "worker@example.com"
    assert not AuditEvent.objects.filter(action="user.email_change").exists()
    client.post(reverse("admin:auth_user_changelist"),
                {"action": "send_password_reset_links", "_selected_action": [worker.pk]})
    assert [m.to for m in mail.outbox] == [["worker@example.com"]]


def test_the_address_of_a_new_user_without_a_password_can_be_corrected(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR], is_staff=True)
    new = UserFactory(roles=[Role.CASE_WORKER], email="typo@exmple.com", is_staff=True)
    new.set_unusable_password()
    new.save()
    client.force_login(sysadmin)
    assert _change(client, new, "right@example.com").status_code == 302
    new.refresh_from_db()
    assert new.email == "right@example.com"
    event = AuditEvent.objects.get(action="user.email_change")
    assert (event.actor, event.details["previous"], event.details["email"]) == (sysadmin, "typo@exmple.com",
                                                                                 "right@example.com")


def test_a_superuser_changes_it_and_it_is_audited(client, worker):
    root = UserFactory(is_superuser=True, is_staff=True)
    root.save()  # the factory saves the password only with roles
    client.force_login(root)
    response = _change(client, worker, "worker@new.example")
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert response["Location"].endswith(reverse("admin:auth_user_changelist")), response["Location"]
    worker.refresh_from_db()
    assert worker.email == "worker@new.example"
    assert AuditEvent.objects.get(action="user.email_change").actor == root


def test_an_administrator_keeps_their_own_address_editable(client):
    sysadmin = UserFactory(roles=[Role.ADMINISTRATOR], is_staff=True, email="me@example.com")
    client.force_login(sysadmin)
    page = client.get(reverse("admin:auth_user_change", args=[sysadmin.pk]))
    assert "email" not in page.context["adminform"].readonly_fields
