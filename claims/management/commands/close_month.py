"""close_month --month YYYY-MM: the providers' monthly statements (清算单) for that month.

Safe to run again: drafts are replaced with the same figures; approved statements are kept.
"""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from claims.statements.services import parse_month, statement_close_month
from core.errors import DomainError


class Command(BaseCommand):
    help = "Produce the providers' monthly settlement statements for a month (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--user", help="username recorded as the generator (finance approves, never this user)")

    def handle(self, *args, month, user=None, **options):
        generator = None
        if user:
            generator = get_user_model().objects.filter(username=user).first()
            if generator is None:
                raise CommandError(f"no user {user!r}")
        started = time.monotonic()
        try:
            with transaction.atomic(durable=True):
                result = statement_close_month(month=parse_month(month), user=generator)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        self.stdout.write(
            f"{result.month:%Y-%m}: {result.created} statements created, {result.replaced} drafts replaced, "
            f"{result.kept_approved} approved kept ({time.monotonic() - started:.2f} s)"
        )
        # The other providers' statements are made; these are in the audit log too.
        for code, reason in result.failed:
            self.stderr.write(f"FAILED provider {code}: {reason}")
