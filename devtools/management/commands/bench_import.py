"""Benchmark: generate valid members into a CSV and import them through import_members' code.

    python manage.py bench_import [--rows 100000] [--prefix 510100] [--reimport]

Prints rows per second for the first import (all created) and, with --reimport, for the
same file again (all unchanged). Writes into the configured database: run it on a scratch
PostgreSQL database (README)."""

import csv
import os
import platform
import resource
import tempfile
import time
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from core.idnumber import make_id_number
from core.imports.pipeline import import_file, tqdm_progress_factory
from devtools.guard import require_bench_database
from members.importers import MemberImporter

HEADER = ["id_number", "name", "employment_status", "scheme", "category", "sector", "civil_servant",
          "pre_1949_veteran", "contribution_base", "monthly_pension", "enrolled_on", "retired_on", "status",
          "died_on", "phone"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
GIVEN = ["建国", "秀英", "伟", "芳", "明", "丽", "军", "敏", "勇", "静"]


def generate(path: str, rows: int, prefix: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            retired = i % 4 == 3
            born = (date(1950, 1, 1) if retired else date(1975, 1, 1)) + timedelta(days=i // 1000)
            writer.writerow([
                make_id_number(prefix, born, i % 1000),
                SURNAMES[i % 20] + GIVEN[i % 10],
                "retired" if retired else "in_service",
                "pooled_only" if i % 7 == 6 else "combined",
                "flexible_employment" if i % 9 == 8 else "employee",
                "government" if i % 5 == 4 else "enterprise",
                "true" if i % 10 == 4 else "false",
                "false",
                "" if retired else f"{4000 + (i % 50) * 100}.00",
                f"{2800 + i % 30 * 10}.00" if retired else "",
                "2015-01-01",
                f"{born.year + 60}-{born.month:02d}-01" if retired else "",
                "active",
                "",
                f"138{i:08d}",
            ])


class Command(BaseCommand):
    help = "Import N generated members from CSV through the import_members code and print rows/s."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--prefix", default="510100", help="six-digit area code of the generated ID numbers")
        parser.add_argument("--reimport", action="store_true", help="also time importing the same file again")

    def handle(self, *args, rows, prefix, reimport, **options):
        require_bench_database()
        if rows > 150 * 365 * 1000:
            raise CommandError("too many rows for distinct generated ID numbers")
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "members.csv")
            started = time.perf_counter()
            generate(path, rows, prefix)
            self.stdout.write(f"generated {rows} rows in {time.perf_counter() - started:.1f} s ({path})")
            passes = [("first import", "created")] + ([("re-import", "unchanged")] if reimport else [])
            for label, expected in passes:
                started, cpu, db_cpu = time.perf_counter(), time.process_time(), _backend_cpu()
                load = os.getloadavg()[0]
                with tqdm_progress_factory(self.stderr._out, disable=options["verbosity"] < 1) as progress:
                    outcome = import_file(MemberImporter(change_reason="bench_import"), path, progress=progress)
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                db_cpu = _backend_cpu() - db_cpu if db_cpu is not None else None
                if outcome.errors:
                    raise CommandError("\n".join(str(e) for e in outcome.errors[:20]))
                self.stdout.write(
                    f"{label}: {rows} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s "
                    f"({outcome.summary()})"
                )
                self.stdout.write("  phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in outcome.timings.items())
                                  + f"; CPU: python {cpu:.2f} s"
                                  + (f", database backend {db_cpu:.2f} s, together {rows / (cpu + db_cpu):,.0f} "
                                     "rows per CPU-second" if db_cpu is not None else "")
                                  + f"; load average at start {load:.2f} on {os.cpu_count()} CPUs")
                if outcome.counts[expected] != rows:
                    self.stderr.write(f"note: expected {rows} {expected}; the prefix was imported before?")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(f"peak memory of this process: {peak:.0f} MB")
        self.stdout.write(f"database: {connection.vendor} {connection.settings_dict.get('NAME')}; "
                          f"python {platform.python_version()}; cpu: {_cpu_model()}")


def _backend_cpu() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend (same machine only):
    with the Python process's CPU, what the import costs whatever else the machine runs."""
    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
