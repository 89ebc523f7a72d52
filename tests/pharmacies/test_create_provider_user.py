"""`create_provider_user` makes the link through the provider staff service (issue 12)."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import ApiToken, AuditEvent
from core.roles import Role
from pharmacies.models import ProviderStaff
from tests.factories import ProviderFactory, UserFactory


def test_the_command_links_through_the_service_and_audits_it(db):
    provider = ProviderFactory(kind="institution", level="level_2")
    call_command("create_provider_user", provider.code, "his-api", stdout=StringIO())
    link = ProviderStaff.objects.get(user__username="his-api")
    assert link.provider == provider and not link.cross_region_platform
    assert link.user.groups.filter(name=Role.PROVIDER.value).exists()
    event = AuditEvent.objects.get(action="provider_staff.link")
    assert event.actor is None and event.target_id == str(link.user.pk)
    assert event.details == {"provider": provider.code, "previous": None, "tokens_revoked": 0,
                             "command": "create_provider_user"}
    # Run again: found, not linked twice.
    call_command("create_provider_user", provider.code, "his-api", stdout=StringIO())
    assert AuditEvent.objects.filter(action="provider_staff.link").count() == 1
    assert ProviderStaff.objects.filter(user__username="his-api").count() == 1


def test_the_command_refuses_a_user_with_an_agency_role_and_writes_nothing(db):
    provider = ProviderFactory(kind="institution", level="level_2")
    worker = UserFactory(username="worker")
    worker.groups.add(Group.objects.get_or_create(name=Role.CASE_WORKER.value)[0])
    with pytest.raises(CommandError, match="worker"):
        call_command("create_provider_user", provider.code, "worker", stdout=StringIO())
    assert not ProviderStaff.objects.exists()
    assert not ApiToken.objects.filter(user=worker).exists()
    assert not AuditEvent.objects.filter(action__in=["provider_staff.link", "provider_user.create"]).exists()


def test_the_command_refuses_a_user_of_another_provider(db):
    first, second = ProviderFactory(kind="institution", level="level_2"), ProviderFactory(kind="pharmacy")
    call_command("create_provider_user", first.code, "his-api", stdout=StringIO())
    with pytest.raises(CommandError, match="another provider"):
        call_command("create_provider_user", second.code, "his-api", stdout=StringIO())
    assert ProviderStaff.objects.get(user__username="his-api").provider == first
