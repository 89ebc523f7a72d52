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
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from claims.loadtest import database_url, gunicorn_start, gunicorn_wait_ready, load_data_prepare, settlement_body


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
        parser.add_argument("--prepare-only", action="store_true",
                            help="prepare the data, print {\"tokens\": [...], \"members\": [...]} as JSON on the last line, and stop")

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("bench_settlement runs on PostgreSQL: set DATABASE_URL=postgres://…")
        if opts["clients"] < 1 or opts["requests"] < 1:
            raise CommandError("--clients and --requests must be positive")
        call_command("migrate", verbosity=0, interactive=False)
        tokens, members = load_data_prepare(providers=opts["clients"], members=opts["members"])
        self.stdout.write(f"data: {len(members)} members, {len(tokens)} providers (zaozhuang policy)")
        if opts["prepare_only"]:
            self.stdout.write(json.dumps({"tokens": tokens, "members": members}))
            return
        workers = opts["workers"] or 2 * (os.cpu_count() or 1) + 1
        port = _free_port()
        server = gunicorn_start(port=port, workers=workers, database_url=database_url(settings.DATABASES["default"]))
        try:
            try:
                gunicorn_wait_ready(port, tokens[0], server=server)
            except (RuntimeError, TimeoutError) as error:
                raise CommandError(str(error)) from error
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

    # --- load ----------------------------------------------------------------------------

    def load(self, port, tokens, members, total, run, clients):
        latencies, failures, lock = [], [0], threading.Lock()
        counter = iter(range(total))
        counter_lock = threading.Lock()

        def client(k):
            headers = {"Authorization": f"Token {tokens[k % len(tokens)]}", "Content-Type": "application/json"}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = []
            while True:
                with counter_lock:
                    n = next(counter, None)
                if n is None:
                    break
                body = json.dumps(settlement_body(members, n, k, f"{run}-{k}-{n}"))
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
