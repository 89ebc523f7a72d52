"""Real processes for the fault tests: a private Redis, Celery workers and beat on the test database.

Each process is started in a session of its own (its own process group), so stopping it stops
its children too (the worker's pool processes); `Processes` stops every group it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"


def redis_server() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll `condition` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def database_url() -> str:
    """The URL of the database this test uses (pytest-django's test database), for subprocesses."""
    s = connection.settings_dict
    user = quote(s["USER"] or "") + (f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else "")
    return f"postgres://{user}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{quote(s['NAME'])}"


class Processes:
    """Starts processes and stops them all (SIGKILL to each group) on `stop_all`."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.started: list[tuple[str, subprocess.Popen]] = []
        self.logs: dict[str, Path] = {}

    def start(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        self.logs[name] = log
        handle = log.open("ab")
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        self.started.append((name, process))
        return process

    def log(self, name: str) -> str:
        path = self.logs.get(name)
        return path.read_text(errors="replace") if path and path.exists() else ""

    def logs_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- {name} ---\n" + "\n".join(self.log(name).splitlines()[-lines:]) for name in self.logs
        )

    @staticmethod
    def kill(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
        """Signal the process's whole group (it leads a session of its own) and reap it."""
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)

    @staticmethod
    def group_gone(process: subprocess.Popen) -> bool:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return True
        return False

    def stop_all(self) -> None:
        for _, process in reversed(self.started):
            self.kill(process)
        # The pool's children leave with their group; make sure nothing is left running.
        for _, process in self.started:
            wait_for(lambda p=process: self.group_gone(p), timeout=15, what=f"process group {process.pid} to end")

    # -- the services -------------------------------------------------------------------------

    def redis(self, port: int) -> subprocess.Popen:
        process = self.start(
            f"redis-{len(self.started)}",
            [redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.tmp)],
        )
        wait_for(lambda: _answers(port), timeout=15, what=f"redis on port {port}")
        return process

    def django_env(self, broker_port: int, **extra: str) -> dict:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.development",
            DATABASE_URL=database_url(),
            REDIS_URL=f"redis://127.0.0.1:{broker_port}/0",
            LOG_FORMAT="plain",
            PYTHONUNBUFFERED="1",
            **extra,
        )
        return env

    def worker(self, name: str, env: dict, concurrency: int = 2) -> subprocess.Popen:
        """The Procfile's worker command."""
        return self.start(name, [
            str(CELERY), "-A", "config", "worker", "--loglevel=INFO", f"--concurrency={concurrency}", "-Q", "celery",
            "-n", f"{name}@%h",
        ], env)

    def beat(self, name: str, env: dict) -> subprocess.Popen:
        """The Procfile's beat command (the schedule is in the database)."""
        return self.start(name, [
            str(CELERY), "-A", "config", "beat", "--loglevel=INFO",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
            "--pidfile", str(self.tmp / f"{name}.pid"), "--schedule", str(self.tmp / f"{name}-schedule"),
        ], env)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_until_consuming(processes: Processes, name: str, timeout: float = 60) -> None:
    """A worker is ready when it logs so (its broker connection and queues are set up)."""
    wait_for(lambda: " ready." in processes.log(name), timeout=timeout, interval=0.1,
             what=f"{name} to be ready\n{processes.logs_tail()}")
