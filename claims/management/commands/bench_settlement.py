"""bench_settlement: settlements per second through the real HTTP stack, against pgbench.

On PostgreSQL only. Prepares benchmark data in the configured database (members with
accounts, providers with API users, the catalog, the Zaozhuang policy), starts gunicorn on
it, runs CLIENTS concurrent HTTP clients settling REQUESTS visits in total (each a different
external_ref, spread over many members), then runs pgbench's standard TPC-B test
(`pgbench -i` on a scratch database, then `pgbench -c 8 -T 10`) and prints settlements/s,
p50 and p99 latency, pgbench's tps, and the ratio. Goal: ≥ 25% of pgbench tps, p99 < 50 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gongji python manage.py bench_settlement
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from rest_framework.authtoken.models import Token

from claims.models import CatalogItem, PolicyVersion
from claims.policy_services import policy_load
from core.idnumber import make_id_number
from members.models import Enrollment, LedgerEntry, Member, PersonalAccount
from pharmacies.models import Provider, ProviderStaff

PRESETS = Path(__file__).resolve().parents[2] / "policies"
BENCH_PROVIDER_PREFIX = "H3799"


def _percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Command(BaseCommand):
    help = "Benchmark real-time settlement over HTTP (gunicorn, PostgreSQL) against pgbench TPC-B."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=8)
        parser.add_argument("--requests", type=int, default=4000, help="settlements measured, in total")
        parser.add_argument("--warmup", type=int, default=400)
        parser.add_argument("--members", type=int, default=4000)
        parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: 2 × CPUs + 1)")
        parser.add_argument("--pgbench-seconds", type=int, default=10)
        parser.add_argument("--skip-pgbench", action="store_true")

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("bench_settlement runs on PostgreSQL: set DATABASE_URL=postgres://…")
        if opts["clients"] < 1 or opts["requests"] < 1:
            raise CommandError("--clients and --requests must be positive")
        call_command("migrate", verbosity=0, interactive=False)
        if not PolicyVersion.objects.filter(region="zaozhuang").exists():
            policy_load(data=json.loads((PRESETS / "zaozhuang.json").read_text(encoding="utf-8")))
        tokens, members = self.prepare(opts["clients"], opts["members"])
        workers = opts["workers"] or 2 * (os.cpu_count() or 1) + 1
        port = _free_port()
        server = self.start_gunicorn(port, workers)
        try:
            self.wait_ready(port, tokens[0])
            run = str(int(time.time()))
            self.stdout.write(f"warm-up: {opts['warmup']} settlements")
            self.load(port, tokens, members, opts["warmup"], f"W{run}", opts["clients"])
            self.stdout.write(f"measuring: {opts['requests']} settlements, {opts['clients']} clients, {workers} gunicorn workers")
            elapsed, latencies, failures = self.load(port, tokens, members, opts["requests"], f"M{run}", opts["clients"])
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        rate = len(latencies) / elapsed
        p50, p99 = _percentile(latencies, 0.50) * 1000, _percentile(latencies, 0.99) * 1000
        tps = None if opts["skip_pgbench"] else self.pgbench(opts["clients"], opts["pgbench_seconds"])
        self.stdout.write("")
        self.stdout.write(f"settlements          {len(latencies)} ok, {failures} failed, {elapsed:.2f} s")
        self.stdout.write(f"settlements/s        {rate:.1f}")
        self.stdout.write(f"latency p50          {p50:.1f} ms")
        self.stdout.write(f"latency p99          {p99:.1f} ms")
        if tps:
            self.stdout.write(f"pgbench tps (TPC-B)  {tps:.1f}  (pgbench -c 8 -T {opts['pgbench_seconds']}, scale 1)")
            self.stdout.write(f"ratio                {100 * rate / tps:.1f}% of pgbench tps (goal ≥ 25%)")
        self.stdout.write(f"p99 goal (< 50 ms)   {'met' if p99 < 50 else 'NOT met'}")
        if failures:
            raise CommandError(f"{failures} settlements failed")

    # --- data ----------------------------------------------------------------------------

    @transaction.atomic
    def prepare(self, clients: int, count: int):
        CatalogItem.objects.get_or_create(
            code="A-DRUG", defaults={"name": "甲类药", "kind": "drug", "item_class": "A", "list_price": Decimal("10.00")}
        )
        CatalogItem.objects.get_or_create(
            code="B-DRUG", defaults={"name": "乙类药", "kind": "drug", "item_class": "B", "prepay_percent": Decimal("10"), "list_price": Decimal("50.00")}
        )
        born = date(1975, 6, 15)
        ids = [make_id_number(f"{379900 + n // 1000:06d}", born, n % 1000) for n in range(count)]
        existing = set(Member.objects.filter(id_number__in=ids).values_list("id_number", flat=True))
        new = [Member(id_number=i, name=f"压测{n}", birth_date=born, sex="M" if int(i[16]) % 2 else "F") for n, i in enumerate(ids) if i not in existing]
        if new:
            Member.objects.bulk_create(new, batch_size=1000)
            created = list(Member.objects.filter(id_number__in=[m.id_number for m in new]))
            Enrollment.objects.bulk_create(
                [Enrollment(member=m, effective_from=date(2020, 1, 1), employment_status="in_service", scheme="combined", contribution_base=Decimal("6000.00")) for m in created],
                batch_size=1000,
            )
            accounts = PersonalAccount.objects.bulk_create(
                [PersonalAccount(member=m, opened_on=date(2020, 1, 1), balance=Decimal("1000000.00")) for m in created], batch_size=1000
            )
            LedgerEntry.objects.bulk_create(
                [LedgerEntry(account=a, kind=LedgerEntry.Kind.OPENING_BALANCE, amount=Decimal("1000000.00"), balance_after=Decimal("1000000.00"), reference="bench") for a in accounts],
                batch_size=1000,
            )
        from django.contrib.auth import get_user_model

        tokens = []
        for n in range(clients):
            code = f"{BENCH_PROVIDER_PREFIX}{n:07d}"
            provider, _ = Provider.objects.get_or_create(
                code=code, defaults={"name": f"压测机构{n}", "kind": "institution", "level": ["level_1", "level_2", "level_3"][n % 3]}
            )
            user, made = get_user_model().objects.get_or_create(username=f"bench-{code}")
            if made:
                user.set_unusable_password()
                user.save()
            ProviderStaff.objects.get_or_create(user=user, defaults={"provider": provider})
            tokens.append(Token.objects.get_or_create(user=user)[0].key)
        self.stdout.write(f"data: {count} members, {clients} providers (zaozhuang policy)")
        return tokens, ids

    # --- server --------------------------------------------------------------------------

    def start_gunicorn(self, port: int, workers: int):
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
        if gunicorn is None:
            raise CommandError("gunicorn is not installed (pip install gunicorn)")
        db = settings.DATABASES["default"]
        env = {
            **os.environ,
            "REGION": "zaozhuang",
            "DJANGO_SETTINGS_MODULE": "config.settings.development",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "DB_CONN_MAX_AGE": "600",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}",
        }
        return subprocess.Popen(
            [gunicorn, "config.wsgi:application", "-b", f"127.0.0.1:{port}", "-w", str(workers),
             "--backlog", "2048", "--log-level", "warning"],
            cwd=str(settings.BASE_DIR), env=env, start_new_session=True,
        )

    def wait_ready(self, port: int, token: str):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/providers/me", headers={"Authorization": f"Token {token}"})
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise CommandError("gunicorn did not answer within 60 s")

    # --- load ----------------------------------------------------------------------------

    def load(self, port, tokens, members, total, run, clients):
        latencies, failures, lock = [], [0], threading.Lock()
        counter = iter(range(total))
        counter_lock = threading.Lock()
        base = date(2023, 1, 2)

        def client(k):
            headers = {"Authorization": f"Token {tokens[k % len(tokens)]}", "Content-Type": "application/json"}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = []
            while True:
                with counter_lock:
                    n = next(counter, None)
                if n is None:
                    break
                body = json.dumps({
                    "member_id_number": members[(n * 7919 + k) % len(members)],
                    "visit_date": (base + timedelta(days=n % 300)).isoformat(),
                    "external_ref": f"{run}-{k}-{n}",
                    "use_account": True,
                    "items": [{"code": "A-DRUG", "quantity": "3"}, {"code": "B-DRUG", "quantity": "1"}],
                })
                started = time.perf_counter()
                try:
                    conn.request("POST", "/api/v1/settlements", body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 201
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                except (OSError, http.client.HTTPException):
                    ok = False
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                took = time.perf_counter() - started
                if ok:
                    mine.append(took)
                else:
                    with lock:
                        failures[0] += 1
            conn.close()
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started, latencies, failures[0]

    # --- pgbench -------------------------------------------------------------------------

    def pgbench(self, clients: int, seconds: int) -> float:
        if shutil.which("pgbench") is None:
            self.stderr.write("pgbench not found: skipped")
            return 0.0
        db = settings.DATABASES["default"]
        scratch = f"{db['NAME']}_pgbench"
        env = {
            **os.environ,
            "PGHOST": db.get("HOST") or "127.0.0.1",
            "PGPORT": str(db.get("PORT") or 5432),
            "PGUSER": db["USER"],
            "PGPASSWORD": db.get("PASSWORD") or "",
        }
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
            cursor.execute(f'CREATE DATABASE "{scratch}"')
        try:
            subprocess.run(["pgbench", "-i", "-q", scratch], env=env, check=True, capture_output=True)
            result = subprocess.run(
                ["pgbench", "-c", "8", "-j", "2", "-T", str(seconds), scratch], env=env, check=True, capture_output=True, text=True
            )
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        match = re.search(r"tps = ([0-9.]+)", result.stdout)
        if not match:
            raise CommandError(f"could not read pgbench's tps:\n{result.stdout}")
        return float(match.group(1))
