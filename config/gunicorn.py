"""gunicorn for the production topology: sync workers sized to the cores, bound to BIND."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")


def default_workers() -> int:
    """Sync workers for the cores: a settlement keeps its worker busy on the CPU about 70% of
    the time (the rest waits on PostgreSQL), so cores + 2 keeps the cores busy without queueing
    requests behind more processes than they can run; bench_settlement measured 2 cores: 3 or
    4 workers ≈ 300–350 settlements/s with p99 ≈ 35–45 ms, 5 workers (2 × cores + 1) fewer and
    slower (p99 50–65 ms)."""
    return len(os.sched_getaffinity(0)) + 2  # the CPUs this process may use (not the host's)


workers = int(os.environ.get("WEB_CONCURRENCY", str(default_workers())))
threads = int(os.environ.get("WEB_THREADS", "1"))
# Above DB_STATEMENT_TIMEOUT_MS (30 s): a statement that runs out its time answers 503 before
# the arbiter kills the worker (which would reset the connection instead).
timeout = int(os.environ.get("WEB_TIMEOUT", "35"))
graceful_timeout = 20
max_requests = 5000
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The access log writes request paths (/api/v1/members/<ID number>/benefits): this logger masks
# identity numbers in every access and error line (core.observability).
logger_class = "core.observability.MaskingGunicornLogger"
