"""Mark a database as made for the benchmarks (they refuse any other: devtools.guard)."""

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from devtools import guard


class Command(BaseCommand):
    help = ("Say whether the configured database was made for the benchmarks; with --mark, migrate an "
            "empty database and mark it (refused if it holds members, providers, claims or ledger entries).")

    def add_arguments(self, parser):
        parser.add_argument("--mark", action="store_true", help="migrate and mark this (empty) database")

    def handle(self, *args, mark=False, **options):
        name = connection.settings_dict.get("NAME")
        if mark and not guard.is_bench_database():
            call_command("migrate", verbosity=0, interactive=False)
            with transaction.atomic(durable=True):
                guard.mark()
        state = "made for the benchmarks" if guard.is_bench_database() else "NOT made for the benchmarks"
        self.stdout.write(f"database {name!r} ({connection.vendor}): {state}")
