"""prepare_year_end --year YYYY [--provider CODE]: the year-end settlements (年度清算) of the
providers paid against a budget. Safe to run again: drafts are replaced, approved ones kept."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from claims.statements.year_end import year_end_prepare, year_end_prepare_all
from core.errors import DomainError
from pharmacies.models import Provider


class Command(BaseCommand):
    help = "Prepare the year-end settlements of the providers with a budget for a year (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True)
        parser.add_argument("--provider", help="one provider's national code")
        parser.add_argument("--user", help="username recorded as the preparer (finance approves, never this user)")

    def handle(self, *args, year, provider=None, user=None, **options):
        preparer = None
        if user:
            preparer = get_user_model().objects.filter(username=user).first()
            if preparer is None:
                raise CommandError(f"no user {user!r}")
        if provider:
            found = Provider.objects.filter(code=provider).first()
            if found is None:
                raise CommandError(f"no provider {provider!r}")
            try:
                with transaction.atomic(durable=True):
                    settlement = year_end_prepare(provider=found, year=year, user=preparer)
            except DomainError as error:
                raise CommandError(f"{error.code}: {error.message}") from None
            self.stdout.write(f"{found.code} {year}: payable {settlement.payable}")
            return
        with transaction.atomic(durable=True):
            result = year_end_prepare_all(year=year, user=preparer)
        self.stdout.write(f"{year}: {len(result.prepared)} year-end settlements prepared")
        for code, reason in result.refused:
            self.stderr.write(f"REFUSED provider {code}: {reason}")
