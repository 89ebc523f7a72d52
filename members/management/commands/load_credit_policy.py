"""load_credit_policy PATH: load an account-credit policy file (kind "account_credit").

`load_policy PATH` (claims) dispatches such files to the same service."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.errors import DomainError
from members.services import credit_policy_load


class Command(BaseCommand):
    help = "Load an account-credit policy version from its JSON file (members/policies/FORMAT.md)."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, **options):
        try:
            with open(options["path"], encoding="utf-8") as handle:
                data = json.load(handle)
            with transaction.atomic(durable=True):
                policy = credit_policy_load(data=data)
        except (OSError, json.JSONDecodeError) as error:
            raise CommandError(str(error)) from None
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message} {error.details}") from None
        self.stdout.write(f"credit policy {policy.region} {policy.version}: {policy.rules.count()} rules")
