"""create_provider_user CODE USERNAME | create_provider_user --cross-region USERNAME

Creates (or finds) the API user of a designated provider, or of the cross-region settlement
platform (异地就医结算平台), and prints its API token on the last line. Safe to run again: a
token is stored only as a digest (core.tokens), so a user who already has a working token is
not given another one (its key was printed when it was issued) unless --new-token is given.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from core.audit import audit
from core.audit_actions import AuditAction
from core.errors import DomainError
from core.roles import Role
from core.tokens import api_token_issue_by_command, usable_tokens
from pharmacies.models import Provider, ProviderStaff
from pharmacies.services import provider_staff_link_by_command


class Command(BaseCommand):
    help = "Create the API user of a provider (or of the cross-region platform) and print its token."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="+", metavar="CODE USERNAME")
        parser.add_argument("--cross-region", action="store_true", help="the cross-region settlement platform's user")
        parser.add_argument("--new-token", action="store_true",
                            help="issue another token even if the user has a working one (the old one keeps working until it expires or is revoked)")

    @transaction.atomic(durable=True)
    def handle(self, *args, cross_region=False, new_token=False, **options):
        if cross_region:
            if len(args) != 1:
                raise CommandError("usage: create_provider_user --cross-region USERNAME")
            provider, username = None, args[0]
        else:
            if len(args) != 2:
                raise CommandError("usage: create_provider_user CODE USERNAME")
            code, username = args
            provider = Provider.objects.filter(code=code).first()
            if provider is None:
                raise CommandError(f"no designated provider has code {code}")
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
        link = ProviderStaff.objects.filter(user=user).first()
        if link is not None and link.provider_id != (provider.pk if provider else None):
            raise CommandError(f"user {username} already acts for another provider")
        group, _ = Group.objects.get_or_create(name=Role.PROVIDER.value)
        try:
            # The one way a provider staff link is made (pharmacies.services.staff): the same
            # checks (never a user with an agency role) and audit event as the admin's.
            provider_staff_link_by_command(user=user, provider=provider, cross_region_platform=provider is None,
                                           command="create_provider_user")
        except DomainError as error:
            raise CommandError(f"user {username}: {error.message}") from error
        user.groups.add(group)
        audit(actor=None, action=AuditAction.PROVIDER_USER_CREATE, target=user, provider=provider.code if provider else "cross_region")
        who = provider.code if provider else "cross-region platform"
        self.stdout.write(f"{'created' if created else 'found'} API user {username} for {who}")
        working = usable_tokens(user).first()
        if working is not None and not new_token:
            self.stdout.write(f"{username} already has a working API token {working.prefix}… (expires "
                              f"{timezone.localdate(working.expires_at):%Y-%m-%d}); its key was printed when it was issued and is not "
                              "stored. --new-token issues another; the portal and the admin rotate and revoke.")
            return
        _token, key = api_token_issue_by_command(user=user, command="create_provider_user")
        self.stdout.write(key)
