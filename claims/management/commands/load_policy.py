"""load_policy PATH: load a region policy version file (claims/policies/FORMAT.md).

The file's top-level "kind" says what it is: "outpatient_pooling" (region settlement
policy, this app), "chronic_special" (chronic and special diseases, claims/chronic_format.py)
or "account_credit" (personal-account credit policy, members app).
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.errors import DomainError


class Command(BaseCommand):
    help = "Load a region policy version from a data file in the documented format (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"{path}: {error}") from None
        kind = data.get("kind") if isinstance(data, dict) else None
        try:
            if kind in ("outpatient_pooling", "chronic_special"):
                from claims.policy_services import policy_load

                with transaction.atomic(durable=True):
                    counts = policy_load(data=data)
            elif kind == "account_credit":
                # Implemented by the members app; imported here only when such a file is loaded.
                from members.services import credit_policy_load

                with transaction.atomic(durable=True):
                    counts = credit_policy_load(data=data, user=None)
            else:
                raise CommandError(f'{path}: "kind" must be "outpatient_pooling", "chronic_special" or "account_credit", not {kind!r}')
        except DomainError as error:
            for problem in error.details.get("problems", []):
                self.stderr.write(f"  {problem}")
            raise CommandError(f"{path}: {error.message}") from None
        summary = ", ".join(f"{key} {value}" for key, value in (counts or {}).items()) if isinstance(counts, dict) else str(counts)
        self.stdout.write(f"{path}: {data.get('region', '')} {kind}: {summary}")
