"""PostgreSQL restarted during a settlement load: requests fail cleanly with a retryable error,
none is half-written, and the same external_ref retried afterwards settles once.

A private PostgreSQL cluster (initdb into a temporary folder, on a free port; never the shared
server) holds a migrated database with load data; gunicorn with the production settings and
config/gunicorn.py serves it. Client threads settle distinct external_refs while the cluster is
restarted with `pg_ctl restart -m immediate` (a crash: backends are killed mid-transaction and
the server runs crash recovery). Then:

- every answer was 201, or 503 `database_unavailable` in the error shape with Retry-After;
  anything else fails the test: a 500, another status, and a transport error on the
  connection to gunicorn too. Only the database restarts, gunicorn does not, so a reset or a
  closed connection means a worker died or hung on the database (the arbiter kills a worker
  after its timeout): a provider's system could not tell that from a lost answer, which is what
  the 503 exists to avoid;
- no request that started after the cluster was back got a 503, and none after a second
  restart while gunicorn was idle: a worker whose persistent connection died reconnects on its
  next request (CONN_HEALTH_CHECKS) instead of failing it;
- every external_ref that did not get a 201 is sent again with the same body and settles
  (201, or 200 if its first attempt committed before its answer was lost); every 201 sent again
  is replayed (200, same settlement);
- in the database: one claim per external_ref, each with its two lines; each account's balance
  is the sum of its ledger entries and the opening balance less what the claims took; each
  member year's fund_paid is the sum of fund over that member's settled claims of the year.
"""

import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal
from glob import glob
from pathlib import Path

import pytest

from devtools.loadtest import OPENING_BALANCE, ROOT, gunicorn_start, gunicorn_wait_ready, settlement_body

from .conftest import unavailable

pytestmark = pytest.mark.faults

CLIENTS = 6
PROVIDERS = 3
MEMBERS = 24  # few members: many claims share a member's year and account (locks, sums)
WORKERS = 3
SETTLED_BEFORE_RESTART = 20
SETTLED_AFTER_RESTART = 20
LOAD_DEADLINE_S = 40


def _postgres_bin() -> Path | None:
    candidates = [os.environ.get("PG_BIN", "")]
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(found.stdout.strip())
    candidates += sorted(glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if candidate and all((Path(candidate) / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(candidate)
    return None


def _run_as() -> tuple[list[str], str | None]:
    """initdb and postgres refuse to run as root: as root they run as the `postgres` OS user."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return [], "running as root and there is no `postgres` OS user to run the cluster as"
    if shutil.which("runuser") is None:
        return [], "running as root and runuser is missing"
    return ["runuser", "-u", "postgres", "--"], None


PG_BIN = _postgres_bin()
RUN_AS, _RUN_AS_PROBLEM = _run_as()
try:
    import psycopg
except ImportError:  # pragma: no cover
    psycopg = None

if PG_BIN is None:
    MISSING = "PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BIN"
elif _RUN_AS_PROBLEM:
    MISSING = _RUN_AS_PROBLEM
elif psycopg is None or shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
    MISSING = "needs psycopg and gunicorn in the virtualenv"
else:
    MISSING = None


@pytest.fixture(autouse=True, scope="module")
def _required_parts():
    """A missing part skips these tests, or fails them with FAULTS_REQUIRED=1 (conftest)."""
    if MISSING:
        unavailable(MISSING)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class PrivateCluster:
    """A throwaway PostgreSQL cluster owned by this test: its own folder, port and socket."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="gongji-pg-"))
        if RUN_AS:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.port = _free_port()
        # fsync off: the machine does not crash, only PostgreSQL's processes are killed, so what
        # a commit wrote is in the OS's page cache and crash recovery replays it all the same.
        self.options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c max_connections=40 -c shared_buffers=32MB")

    def _pg(self, *args, timeout=60):
        return subprocess.run([*RUN_AS, str(PG_BIN / args[0]), *args[1:]], capture_output=True, text=True,
                              timeout=timeout, check=True, cwd=self.folder)

    def start(self):
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "-o", self.options, "start")

    def restart(self):
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "-m", "immediate", "-o", self.options, "restart")

    def stop(self):
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", "immediate", "stop")
        except (subprocess.SubprocessError, OSError):
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGQUIT)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True)


@pytest.fixture
def cluster():
    cluster = PrivateCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _child_env(database_url: str) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": "", "LOG_LEVEL": "WARNING"}
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


@pytest.fixture
def load_data(cluster):
    """Migrate a database on the private cluster and prepare the load (bench_settlement's data)."""
    with cluster.connect("postgres") as conn:
        conn.execute("CREATE DATABASE gongji_fault")
    env = _child_env(cluster.url("gongji_fault")) | {"DJANGO_SETTINGS_MODULE": "config.settings.development"}
    marked = subprocess.run(  # the benchmarks' data go only into a database made for them
        [sys.executable, "manage.py", "bench_database", "--mark"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert marked.returncode == 0, marked.stderr[-3000:]
    done = subprocess.run(
        [sys.executable, "manage.py", "bench_settlement", "--prepare-only", "--clients", str(PROVIDERS), "--members", str(MEMBERS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def server(cluster, load_data):
    port = _free_port()
    log_path = cluster.folder / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = gunicorn_start(
            port=port, workers=WORKERS, database_url=cluster.url("gongji_fault"),
            settings_module="config.settings.production", config=str(ROOT / "config" / "gunicorn.py"), log=log,
            env=_child_env(cluster.url("gongji_fault")) | {
                "SECRET_KEY": "fault-test-only-" + "x" * 40, "SECURE_SSL_REDIRECT": "0", "WEB_CONCURRENCY": str(WORKERS),
            },
        )
    try:
        gunicorn_wait_ready(port, load_data["tokens"][0], timeout=60, server=process)
        yield {"port": port, "log": log_path, "process": process}
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=25)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _post(port: int, token: str, body: dict) -> tuple[str, int | None, dict | None, str | None]:
    """One settlement on a fresh connection: (outcome, status, payload, Retry-After)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/v1/settlements", body=json.dumps(body),
                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException) as error:
        return f"transport error {type(error).__name__}: {error}", None, None, None
    finally:
        conn.close()
    try:
        payload = json.loads(raw)
    except ValueError:
        return f"status {response.status}, not JSON: {raw[:120]!r}", response.status, None, None
    retry_after = response.getheader("Retry-After")
    if response.status in (200, 201):
        return ("settled" if response.status == 201 else "replayed"), response.status, payload, retry_after
    shaped = isinstance(payload, dict) and set(payload) == {"code", "message", "details"}
    if (response.status == 503 and shaped and payload["code"] == "database_unavailable"
            and retry_after and retry_after.isdigit() and payload["message"]):
        return "unavailable", 503, payload, retry_after
    return f"status {response.status}: {str(payload)[:200]}", response.status, payload, retry_after


def test_postgres_restart_during_settlement_load(cluster, load_data, server):
    port, tokens, members = server["port"], load_data["tokens"], load_data["members"]
    attempts = []  # (ref, token, body, started, outcome, status, payload)
    lock, stop = threading.Lock(), threading.Event()

    def client(k):
        token = tokens[k % len(tokens)]
        for n in range(10_000):
            if stop.is_set():
                return
            body = settlement_body(members, n, k, f"F-{k}-{n}")
            started = time.monotonic()
            outcome, status, payload, _ = _post(port, token, body)
            with lock:
                attempts.append((body["external_ref"], token, body, started, outcome, status, payload))

    def settled_since(moment: float) -> int:
        with lock:
            return sum(1 for a in attempts if a[4] == "settled" and a[3] > moment)

    def wait_for(condition, what: str):
        deadline = time.monotonic() + LOAD_DEADLINE_S
        while not condition():
            assert time.monotonic() < deadline, f"load: {what} not reached in {LOAD_DEADLINE_S} s\n{_tail(server['log'])}"
            assert all(t.is_alive() for t in threads), "a load thread died"
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(CLIENTS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: settled_since(began) >= SETTLED_BEFORE_RESTART, f"{SETTLED_BEFORE_RESTART} settlements before the restart")
        cluster.restart()
        back = time.monotonic()
        wait_for(lambda: settled_since(back) >= SETTLED_AFTER_RESTART, f"{SETTLED_AFTER_RESTART} settlements after the restart")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=40)
    assert not any(t.is_alive() for t in threads)

    outcomes = Counter(a[4] for a in attempts)
    bad = [(a[0], a[4]) for a in attempts if a[4] not in ("settled", "unavailable")]
    diagnostics = f"outcomes {dict(outcomes)}\ngunicorn:\n{_tail(server['log'])}\npostgres:\n{_tail(cluster.log)}"
    assert not bad, f"answers other than 201 or 503 database_unavailable: {bad[:10]}\n{diagnostics}"
    assert outcomes["unavailable"] > 0, f"the restart failed no request: it did not hit the load\n{diagnostics}"
    late = [(a[0], round(a[3] - back, 3)) for a in attempts if a[4] == "unavailable" and a[3] > back]
    assert not late, f"503 for requests sent after the cluster was back (a dead connection was reused): {late[:10]}"

    # A second restart while gunicorn is idle: every worker holds a persistent connection that
    # is now dead (in the load every worker was busy, so its own failure closed it). The retries
    # below must not get a 503: a dead connection is noticed and replaced before it is used.
    cluster.restart()

    # Every failed external_ref again with the same body settles; every settled one replays.
    refs = {a[0] for a in attempts}
    first_answer = {a[0]: a for a in attempts}
    retried = defaultdict(list)
    work = iter(sorted(first_answer.values(), key=lambda a: a[0]))
    work_lock = threading.Lock()

    def retry_client():
        while True:
            with work_lock:
                attempt = next(work, None)
            if attempt is None:
                return
            ref, token, body, _, outcome, _, payload = attempt
            result = _post(port, token, body)
            with lock:
                retried[ref].append((outcome, payload, result))

    retry_threads = [threading.Thread(target=retry_client, daemon=True) for _ in range(CLIENTS)]
    for thread in retry_threads:
        thread.start()
    for thread in retry_threads:
        thread.join(timeout=60)
    assert set(retried) == refs

    settlement_of = {}
    for ref, [(first, first_payload, (outcome, _status, payload, _))] in retried.items():
        if first == "settled":
            assert outcome == "replayed", f"{ref}: a settled external_ref sent again answered {outcome}"
            assert payload == first_payload, f"{ref}: the replay differs from the first answer"
        else:
            assert outcome in ("settled", "replayed"), f"{ref}: a failed external_ref sent again answered {outcome}"
        settlement_of[ref] = payload["settlement_id"]

    again = Counter(results[0][2][0] for results in retried.values())
    print(f"load: {dict(outcomes)}; sent again: {dict(again)}")  # shown with -s

    # The database: nothing half-written, every sum adds up.
    with cluster.connect("gongji_fault") as conn:
        claims = conn.execute(
            "SELECT c.id, c.external_ref, c.member_id, c.year, c.fund, c.account + c.family_account, c.status, "
            "(SELECT count(*) FROM claims_claimline l WHERE l.claim_id = c.id) FROM claims_claim c"
        ).fetchall()
        by_ref = Counter(row[1] for row in claims)
        assert set(by_ref) == refs, "claims and external_refs sent differ"
        assert max(by_ref.values()) == 1, [ref for ref, n in by_ref.items() if n > 1]
        assert {row[1]: row[0] for row in claims} == settlement_of
        assert all(row[7] == 2 for row in claims), "a claim without its two lines"
        assert all(row[6] == "settled" for row in claims)

        ledger = dict(conn.execute(
            "SELECT a.member_id, a.balance - coalesce(sum(e.amount), 0) FROM members_personalaccount a "
            "LEFT JOIN members_ledgerentry e ON e.account_id = a.id GROUP BY a.id"
        ).fetchall())
        assert len(ledger) == MEMBERS
        assert all(diff == 0 for diff in ledger.values()), "an account's balance is not the sum of its ledger"
        balances = dict(conn.execute("SELECT member_id, balance FROM members_personalaccount").fetchall())
        taken = defaultdict(Decimal)
        fund = defaultdict(Decimal)
        for _, _, member_id, year, claim_fund, paid, _, _ in claims:
            taken[member_id] += paid
            fund[(member_id, year)] += claim_fund
        for member_id, balance in balances.items():
            assert balance == OPENING_BALANCE - taken[member_id], f"member {member_id}: balance {balance}"
        assert sum(taken.values()) > 0, "no claim took anything from an account: the check would prove nothing"
        years = dict(((m, y), paid) for m, y, paid in conn.execute("SELECT member_id, year, fund_paid FROM claims_memberyear"))
        assert set(years) == set(fund), "member years and the years of the claims differ"
        for key, fund_paid in years.items():
            assert fund_paid == fund[key], f"member year {key}: fund_paid {fund_paid} ≠ {fund[key]}"
        assert sum(fund.values()) > 0
