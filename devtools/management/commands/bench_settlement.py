"""bench_settlement: settlements per second through the real HTTP stack, against pgbench.

On PostgreSQL only. Prepares benchmark data in the configured database (members with
accounts, providers with API users, the catalog, the Zaozhuang policy), starts gunicorn on it
with the production settings, and drives it with CLIENTS concurrent keep-alive connections for
SECONDS (each request a new visit with its own external_ref, spread over many members): with
wrk (a C load generator, Debian's `wrk`) when it is installed, so that the load generator takes
little of the machine, else with Python threads. Then it runs pgbench's standard TPC-B test
(`pgbench -i` on a scratch database, then `pgbench -c 8 -j 2 -T 10`) and prints settlements/s,
p50 and p99 latency, pgbench's tps, and the ratio. Goal: ≥ 25% of pgbench tps, p99 < 50 ms.

`--mix account` settles account-only sales (`benefit: personal_account`) instead of pooling
visits; `--mix both` measures pooling and then account-only sales in the same run (same data,
server and length) and prints the account-only rate as a share of the pooling rate (issue 13:
at least 100%). `--rounds N` splits the measured time into N rounds that alternate the mixes
(pooling, account, pooling, …), so that a machine whose speed drifts favours neither; the
latencies printed are then the slowest round's.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gongji python manage.py bench_settlement
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from config.gunicorn import default_workers
from devtools.guard import require_bench_database
from devtools.loadtest import (
    FIRST_VISIT,
    LOAD_PROVIDER_PREFIX,
    MIX_FIELDS,
    database_url,
    gunicorn_start,
    gunicorn_wait_ready,
    load_data_prepare,
    settlement_body,
)


@dataclass(frozen=True)
class LoadResult:
    ok: int
    failed: int
    elapsed: float
    p50_ms: float
    p99_ms: float


# wrk's Lua script. Each of wrk's threads numbers its own requests; a request is a new visit
# (its own external_ref) of one of the members, from one of the benchmark providers. Only a 201
# counts as settled; latency percentiles are wrk's own (of every request).
WRK_SCRIPT = r"""
local tokens = { $TOKENS }
local members = { $MEMBERS }
local run = $RUN
local head = $HEAD
local threads = {}
local counter = 0

local y0, m0, d0 = string.match($FROM, "(%d+)-(%d+)-(%d+)")
local day0 = os.time({ year = tonumber(y0), month = tonumber(m0), day = tonumber(d0), hour = 12 })

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok, failed = 0, 0
end

function request()
  counter = counter + 1
  local n = counter
  local member = members[((n * 7919 + id) % #members) + 1]
  local visit = os.date("!%Y-%m-%d", day0 + (n % 300) * 86400)
  local body = string.format(
    '{%s"member_id_number":"%s","visit_date":"%s","external_ref":"%s-%d-%d",' ..
    '"items":[{"code":"A-DRUG","quantity":"3"},{"code":"B-DRUG","quantity":"1"}]}',
    head, member, visit, run, id, n)
  local headers = {
    ["Authorization"] = "Token " .. tokens[((n + id) % #tokens) + 1],
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 201 then ok = ok + 1 else failed = failed + 1 end
end

function done(summary, latency, requests)
  local ok_all, failed_all = 0, 0
  for _, thread in ipairs(threads) do
    ok_all = ok_all + thread:get("ok")
    failed_all = failed_all + thread:get("failed")
  end
  failed_all = failed_all + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("GONGJI %d %d %d %d %d\n", ok_all, failed_all, summary.duration,
    latency:percentile(50.0), latency:percentile(99.0)))
end
"""


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
        parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections")
        parser.add_argument("--seconds", type=int, default=20, help="how long the load is measured")
        parser.add_argument("--warmup-seconds", type=int, default=5)
        parser.add_argument("--members", type=int, default=4000)
        parser.add_argument("--workers", type=int, default=0, help="gunicorn workers (default: config/gunicorn.py's, CPUs + 2)")
        parser.add_argument("--pgbench-seconds", type=int, default=10)
        parser.add_argument("--skip-pgbench", action="store_true")
        parser.add_argument("--python-client", action="store_true", help="use the Python client even if wrk is installed")
        parser.add_argument("--mix", choices=["pooling", "account", "both"], default="pooling",
                            help="pooling visits, account-only sales, or both one after the other")
        parser.add_argument("--rounds", type=int, default=1, help="alternate the mixes in this many rounds")
        parser.add_argument("--prepare-only", action="store_true",
                            help="prepare the data, print {\"tokens\": [...], \"members\": [...]} as JSON on the last line, and stop")

    def handle(self, *args, **opts):
        require_bench_database()
        if connection.vendor != "postgresql":
            raise CommandError("bench_settlement runs on PostgreSQL: set DATABASE_URL=postgres://…")
        if opts["clients"] < 1 or opts["seconds"] < 1:
            raise CommandError("--clients and --seconds must be positive")
        call_command("migrate", verbosity=0, interactive=False)
        tokens, members = load_data_prepare(providers=opts["clients"], members=opts["members"])
        self.stdout.write(f"data: {len(members)} members, {len(tokens)} providers (zaozhuang policy)")
        if opts["prepare_only"]:
            self.stdout.write(json.dumps({"tokens": tokens, "members": members}))
            return
        workers = opts["workers"] or default_workers()
        wrk = None if opts["python_client"] else shutil.which("wrk")
        load = self.load_wrk if wrk else self.load_python
        port = _free_port()
        server = self.start_gunicorn(port, workers)
        try:
            try:
                gunicorn_wait_ready(port, tokens[0], server=server)
            except (RuntimeError, TimeoutError) as error:
                raise CommandError(f"{error} (see {self.server_log})") from error
            run = str(int(time.time()))
            mixes = ["pooling", "account"] if opts["mix"] == "both" else [opts["mix"]]
            results = {}
            for mix in mixes:
                self.stdout.write(f"warm-up ({mix}): {opts['warmup_seconds']} s")
                load(port, tokens, members, opts["warmup_seconds"], f"W{run}{mix[0]}", opts["clients"], mix)
            rounds = max(1, opts["rounds"])
            slice_seconds = max(1, opts["seconds"] // rounds)
            for round_number in range(rounds):
                for mix in mixes:
                    self.stdout.write(
                        f"measuring ({mix}, round {round_number + 1}/{rounds}): {slice_seconds} s, {opts['clients']} clients "
                        f"({'wrk' if wrk else 'Python threads'}), {workers} gunicorn workers, production settings"
                    )
                    got = load(port, tokens, members, slice_seconds, f"M{run}{mix[0]}{round_number}", opts["clients"], mix)
                    before = results.get(mix)
                    results[mix] = got if before is None else LoadResult(
                        before.ok + got.ok, before.failed + got.failed, before.elapsed + got.elapsed,
                        max(before.p50_ms, got.p50_ms), max(before.p99_ms, got.p99_ms))
        finally:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
        tps = None if opts["skip_pgbench"] else self.pgbench(opts["pgbench_seconds"])
        rates = {}
        for mix, result in results.items():
            settled = self.settled_with_prefix(f"M{run}{mix[0]}")
            rate = rates[mix] = result.ok / result.elapsed
            label = "settlements" if mix == "pooling" else "account-only"
            self.stdout.write("")
            self.stdout.write(f"{label:<20} {result.ok} ok, {result.failed} failed, {result.elapsed:.2f} s ({settled} claims written)")
            self.stdout.write(f"{label + '/s':<20} {rate:.1f}")
            self.stdout.write(f"latency p50          {result.p50_ms:.1f} ms")
            self.stdout.write(f"latency p99          {result.p99_ms:.1f} ms")
            if tps:
                self.stdout.write(f"pgbench tps (TPC-B)  {tps:.1f}  (pgbench -c 8 -j 2 -T {opts['pgbench_seconds']}, scale 1)")
                self.stdout.write(f"ratio                {100 * rate / tps:.1f}% of pgbench tps (goal ≥ 25%)")
            self.stdout.write(f"p99 goal (< 50 ms)   {'met' if result.p99_ms < 50 else 'NOT met'}")
            if result.failed:
                raise CommandError(f"{result.failed} {label} failed")
            # A request still in flight when the load stops is settled but never counted.
            if not result.ok <= settled <= result.ok + opts["clients"]:
                raise CommandError(f"{result.ok} {label} answered 201 but {settled} claims were written")
        if len(rates) == 2:
            share = 100 * rates["account"] / rates["pooling"]
            self.stdout.write("")
            self.stdout.write(f"account-only/pooling {share:.1f}% (goal ≥ 100%: {'met' if share >= 100 else 'NOT met'})")

    def settled_with_prefix(self, prefix: str) -> int:
        from claims.models import Claim

        return Claim.objects.filter(submitter__startswith=LOAD_PROVIDER_PREFIX, external_ref__startswith=prefix).count()

    # --- server --------------------------------------------------------------------------

    def start_gunicorn(self, port: int, workers: int):
        """What `make up` runs: the production settings (statement and lock timeouts, connection
        health checks, prepared statements, JSON request logs), the log to var/. TLS ends at
        the load balancer in a deployment; here the client speaks plain HTTP on loopback."""
        log_dir = Path(settings.BASE_DIR) / "var"
        log_dir.mkdir(exist_ok=True)
        self.server_log = log_dir / "bench_settlement.gunicorn.log"
        self.stdout.write(f"gunicorn's log: {self.server_log}")
        return gunicorn_start(
            port=port,
            workers=workers,
            database_url=database_url(settings.DATABASES["default"]),
            settings_module="config.settings.production",
            env={
                "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-" + os.urandom(16).hex(),
                "SECURE_SSL_REDIRECT": "0",
                "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
            },
            log=open(self.server_log, "wb"),  # noqa: SIM115 (the server writes to it until it stops)
        )

    # --- load ----------------------------------------------------------------------------

    def load_wrk(self, port, tokens, members, seconds, run, clients, mix="pooling") -> LoadResult:
        """wrk with a Lua script: each request a new visit; non-201 answers are counted."""
        script = WRK_SCRIPT.replace("$TOKENS", ", ".join(json.dumps(t) for t in tokens)).replace(
            "$MEMBERS", ", ".join(json.dumps(m) for m in members)
        ).replace("$RUN", json.dumps(run)).replace("$FROM", json.dumps(FIRST_VISIT.isoformat())).replace(
            "$HEAD", json.dumps(json.dumps(MIX_FIELDS[mix])[1:-1] + ","))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "settle.lua"
            path.write_text(script, encoding="utf-8")
            threads = max(1, min(clients, 2))
            done = subprocess.run(
                ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds}s", "--timeout", "10s",
                 "-s", str(path), f"http://127.0.0.1:{port}/api/v1/settlements"],
                capture_output=True, text=True, check=True,
            )
        match = re.search(r"^GONGJI (\S+) (\S+) (\S+) (\S+) (\S+)$", done.stdout, re.MULTILINE)
        if not match:
            raise CommandError(f"could not read wrk's summary:\n{done.stdout}\n{done.stderr}")
        ok, failed, elapsed_us, p50_us, p99_us = (float(value) for value in match.groups())
        return LoadResult(int(ok), int(failed), elapsed_us / 1e6, p50_us / 1000, p99_us / 1000)

    def load_python(self, port, tokens, members, seconds, run, clients, mix="pooling") -> LoadResult:
        """The fallback without wrk: one thread per client (the client then shares the
        machine's cores with the server, and its own cost lowers the figure)."""
        latencies, failures, lock = [], [0], threading.Lock()
        deadline = time.perf_counter() + seconds

        def client(k):
            headers = {"Authorization": f"Token {tokens[k % len(tokens)]}", "Content-Type": "application/json"}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine, n = [], 0
            while time.perf_counter() < deadline:
                body = json.dumps(settlement_body(members, n, k, f"{run}-{k}-{n}", mix))
                n += 1
                started = time.perf_counter()
                try:
                    conn.request("POST", "/api/v1/settlements", body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    ok = response.status == 201
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
        elapsed = time.perf_counter() - started
        return LoadResult(
            len(latencies), failures[0], elapsed, _percentile(latencies, 0.50) * 1000, _percentile(latencies, 0.99) * 1000
        )

    # --- pgbench -------------------------------------------------------------------------

    def pgbench(self, seconds: int) -> float:
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
