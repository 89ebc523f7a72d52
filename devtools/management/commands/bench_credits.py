"""Benchmark the monthly credit run on PostgreSQL against a plain INSERT … SELECT.

    DATABASE_URL=postgres://… python manage.py bench_credits --members 1000000

Generates the members (fast, in SQL) unless they are there already, times a plain
`INSERT … SELECT` of one ledger row per generated account (committed, then removed), then
times the real run of a month (`members.services.credit_month`), and prints both, their ratio
and the process's peak memory. Use a database of its own: it writes a million members.
"""

import json
import resource
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from devtools.guard import require_bench_database
from members.models import CreditPolicy, CreditRun, Enrollment, LedgerEntry, Member, PersonalAccount, ReferenceValue
from members.services import credit_month, credit_policy_load

PREFIX = "BENCH"
BASELINE_PERIOD = date(1999, 1, 1)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Time the monthly credit run of N generated members against a plain INSERT … SELECT (PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=1_000_000)
        parser.add_argument("--month", default="2024-03")
        parser.add_argument("--region", default="zaozhuang")
        parser.add_argument("--chunk-size", type=int, default=100_000)
        parser.add_argument("--fresh", action="store_true", help="remove earlier benchmark data first")
        parser.add_argument("--workers", type=int, default=1,
                            help="chunks credited at once, as several Celery workers would (default 1: sequential)")

    def handle(self, *args, **options):
        require_bench_database()
        if connection.vendor != "postgresql":
            raise CommandError("bench_credits runs on PostgreSQL (set DATABASE_URL)")
        count, region = options["members"], options["region"]
        year, number = options["month"].split("-")
        month = date(int(year), int(number), 1)
        settings.REGION = region
        if options["fresh"]:
            self._remove(month)
        self._prepare(region, count)
        accounts = PersonalAccount.objects.filter(member__id_number__startswith=PREFIX).count()
        self.stdout.write(f"members: {count:,}; accounts before the run: {accounts:,}; peak memory {peak_mb():.0f} MB")

        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {LedgerEntry._meta.db_table}")
            cursor.execute(f"VACUUM ANALYZE {PersonalAccount._meta.db_table}")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LedgerEntry._meta.db_table} (account_id, kind, amount, balance_after, period,"
                " reference, memo, created_at, created_by_id)"
                " SELECT a.id, 'monthly_credit', 120.00, a.balance + 120.00, %s, 'bench:baseline', '', now(), NULL"
                f" FROM {PersonalAccount._meta.db_table} a JOIN {Member._meta.db_table} m ON m.id = a.member_id"
                " WHERE m.id_number LIKE %s",
                [BASELINE_PERIOD, PREFIX + "%"],
            )
            inserted = cursor.rowcount
        baseline = time.perf_counter() - started
        self.stdout.write(f"plain INSERT … SELECT of {inserted:,} ledger rows: {baseline:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {LedgerEntry._meta.db_table} WHERE period = %s", [BASELINE_PERIOD])
            cursor.execute(f"VACUUM ANALYZE {LedgerEntry._meta.db_table}")

        memory_before = peak_mb()
        started = time.perf_counter()
        if options["workers"] <= 1:
            run = credit_month(month=month, chunk_size=options["chunk_size"])
        else:
            run = self._parallel(month, options["chunk_size"], options["workers"])
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"credit run {month:%Y-%m}: {elapsed:.1f} s; status {run.status}; members credited "
            f"{run.members_credited:,}; accounts opened {run.accounts_opened:,}; total {run.total}; skipped {run.skipped}"
        )
        self.stdout.write(f"ratio run / plain insert: {elapsed / baseline:.2f} (goal ≤ 2); workers {options['workers']}")
        self.stdout.write(f"peak memory: {memory_before:.0f} MB before the run, {peak_mb():.0f} MB after")

    def _parallel(self, month, chunk_size, workers):
        """The chunks taken by several workers at once (threads here, Celery workers in production)."""
        from concurrent.futures import ThreadPoolExecutor

        from members.services import credit_month_start, credit_run_chunk, credit_run_chunk_bounds

        run = credit_month_start(month=month, chunk_size=chunk_size)

        def work(bounds):
            try:
                credit_run_chunk(run_id=run.pk, low=bounds[0], high=bounds[1])
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(work, credit_run_chunk_bounds(run)))
        run.refresh_from_db()
        return run

    def _prepare(self, region, count):
        if not CreditPolicy.objects.filter(region=region).exists():
            path = Path(__file__).resolve().parents[3] / "members" / "policies" / f"{region}.json"
            credit_policy_load(data=json.loads(path.read_text(encoding="utf-8")))
        for year in (2021, 2022, 2023):
            ReferenceValue.objects.get_or_create(kind="average_pension", year=year, sector="",
                                                 defaults={"value": Decimal("3000.00")})
            for sector, value in (("enterprise", "2800.00"), ("government", "4500.00")):
                ReferenceValue.objects.get_or_create(kind="average_pension", year=year, sector=sector,
                                                     defaults={"value": Decimal(value)})
        existing = Member.objects.filter(id_number__startswith=PREFIX).count()
        if existing >= count:
            return
        started = time.perf_counter()
        M, E, A = Member._meta.db_table, Enrollment._meta.db_table, PersonalAccount._meta.db_table
        with transaction.atomic(), connection.cursor() as cursor:
            # One in four retired, one in ten a civil servant; bases vary so amounts round differently.
            cursor.execute(
                f"INSERT INTO {M} (id_number, name, sex, birth_date, phone, status, created_at, updated_at)"
                " SELECT %s || lpad(g::text, 13, '0'), '参保人' || g, CASE WHEN g %% 2 = 0 THEN 'F' ELSE 'M' END,"
                " CASE WHEN g %% 4 = 0 THEN date '1950-01-01' + (g %% 7000) ELSE date '1970-01-01' + (g %% 9000) END,"
                " '', 'active', now(), now() FROM generate_series(%s, %s) g",
                [PREFIX, existing + 1, count],
            )
            cursor.execute(
                f"INSERT INTO {E} (member_id, effective_from, employment_status, retired_on, scheme, category, sector,"
                " civil_servant, pre_1949_veteran, employer_name, employer_credit_code, contribution_base,"
                " monthly_pension, recorded_at, recorded_by_id)"
                " SELECT m.id, date '2020-01-01',"
                " CASE WHEN m.birth_date < date '1960-01-01' THEN 'retired' ELSE 'in_service' END,"
                " CASE WHEN m.birth_date < date '1960-01-01' THEN date '2015-01-01' END,"
                " CASE WHEN m.id %% 50 = 0 THEN 'pooled_only' ELSE 'combined' END, 'employee',"
                " CASE WHEN m.id %% 3 = 0 THEN 'government' ELSE 'enterprise' END, m.id %% 10 = 0, false, '', '',"
                " CASE WHEN m.birth_date < date '1960-01-01' THEN NULL ELSE 3000 + (m.id %% 50000) / 7.0 END,"
                " CASE WHEN m.birth_date < date '1960-01-01' THEN 3200 + (m.id %% 1000) END, now(), NULL"
                f" FROM {M} m WHERE m.id_number LIKE %s AND NOT EXISTS (SELECT 1 FROM {E} x WHERE x.member_id = m.id)",
                [PREFIX + "%"],
            )
            cursor.execute(
                f"INSERT INTO {A} (member_id, balance, status, opened_on)"
                f" SELECT m.id, 0, 'open', date '2020-01-01' FROM {M} m"
                f" JOIN {E} e ON e.member_id = m.id AND e.scheme = 'combined'"
                f" WHERE m.id_number LIKE %s AND NOT EXISTS (SELECT 1 FROM {A} x WHERE x.member_id = m.id)",
                [PREFIX + "%"],
            )
            for table in (M, E, A):
                cursor.execute(f"ANALYZE {table}")
        self.stdout.write(f"generated {count - existing:,} members in {time.perf_counter() - started:.1f} s")

    def _remove(self, month):
        M, E, A, L = (Member._meta.db_table, Enrollment._meta.db_table, PersonalAccount._meta.db_table,
                      LedgerEntry._meta.db_table)
        with transaction.atomic(), connection.cursor() as cursor:
            # Benchmark data only: the ledger's immutability is for real accounts.
            cursor.execute(f"DELETE FROM {L} WHERE account_id IN (SELECT a.id FROM {A} a JOIN {M} m"
                           " ON m.id = a.member_id WHERE m.id_number LIKE %s)", [PREFIX + "%"])
            cursor.execute(f"DELETE FROM {A} WHERE member_id IN (SELECT id FROM {M} WHERE id_number LIKE %s)",
                           [PREFIX + "%"])
            cursor.execute(f"DELETE FROM {E} WHERE member_id IN (SELECT id FROM {M} WHERE id_number LIKE %s)",
                           [PREFIX + "%"])
            cursor.execute(f"DELETE FROM {M} WHERE id_number LIKE %s", [PREFIX + "%"])
        CreditRun.objects.filter(month=month).delete()
