"""Production database connection settings, read from the environment and validated.

The topology decides how connections are held (README "Deployment"):

- gunicorn sync workers and Celery prefork workers run one request or task at a time per
  process: one persistent connection per process (`DB_CONN_MAX_AGE`, health-checked) is all
  they need, and is the default.
- gunicorn threaded workers (`WEB_THREADS` > 1, gthread) serve several requests at once per
  process: `DB_POOL_MAX_SIZE` turns on Django's psycopg 3 pool (`OPTIONS["pool"]`, Django
  5.1+), shared by the process's threads. Django refuses a pool with persistent connections,
  so the pool sets `CONN_MAX_AGE = 0` (a conflicting explicit `DB_CONN_MAX_AGE` is an error).
  The pool is for the web only: Celery's Django fixup closes a prefork child's pool after
  every task, so the Procfile's worker and beat run without it.
- many machines: PgBouncer in transaction mode in front of PostgreSQL, `DB_CONN_MAX_AGE=0`
  and `DB_DISABLE_SERVER_SIDE_CURSORS=1` (a server-side cursor does not survive the
  transaction pooler handing the connection to someone else). Prepared statements (below)
  need PgBouncer 1.21 or later with `max_prepared_statements` set; with an older PgBouncer set
  `DB_PREPARED_STATEMENTS=0`.

The hot path's fixed statements (core.sql) are bound on the server and prepared once per
connection on PostgreSQL (`DB_PREPARED_STATEMENTS`, default 1, every environment so that CI runs
them as production does): the settlement path repeats the same dozen statements, and parsing
and planning them on every request was over half of PostgreSQL's CPU per settlement (README,
Benchmarks). The ORM keeps Django's client-side binding, which has no limit on the number of
parameters a statement carries (a server-bound one stops at 65,535).
"""

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

POSTGRESQL = "django.db.backends.postgresql"

DEFAULTS = {
    "DB_STATEMENT_TIMEOUT_MS": 30_000,
    "DB_LOCK_TIMEOUT_MS": 5_000,
    "DB_POOL_MIN_SIZE": 2,
    "DB_POOL_TIMEOUT_S": 10,
}


def _int(environ: Mapping[str, str], name: str, *, minimum: int, default: int | None = None) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def _flag(environ: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ImproperlyConfigured(f"{name} must be 1 or 0, not {raw!r}.")


def prepared_statements(environ: Mapping[str, str]) -> bool:
    """Whether core.sql prepares its fixed statements (PostgreSQL only; `DB_PREPARED_STATEMENTS`)."""
    return _flag(environ, "DB_PREPARED_STATEMENTS", default=True)


def allow_prepared_statements(database: dict) -> dict:
    """`database` with psycopg's prepared-statement cache switched on (Django switches it off).
    Only a server-binding cursor consults it: Django's own (client-side binding) never prepares,
    so this prepares core.sql's statements and nothing else."""
    if database["ENGINE"] != POSTGRESQL:
        return database
    return {**database, "OPTIONS": {**(database.get("OPTIONS") or {}), "prepare_threshold": 5}}


def production_database(database: dict, environ: Mapping[str, str]) -> dict:
    """`database` (the parsed DATABASE_URL) with the production connection settings applied."""
    database = {**database, "OPTIONS": dict(database.get("OPTIONS") or {})}
    pool_max = _int(environ, "DB_POOL_MAX_SIZE", minimum=0, default=0)
    if database["ENGINE"] != POSTGRESQL:
        if pool_max:
            raise ImproperlyConfigured("DB_POOL_MAX_SIZE needs PostgreSQL (DATABASE_URL=postgres://…).")
        return database

    statement_ms = _int(environ, "DB_STATEMENT_TIMEOUT_MS", minimum=0, default=DEFAULTS["DB_STATEMENT_TIMEOUT_MS"])
    lock_ms = _int(environ, "DB_LOCK_TIMEOUT_MS", minimum=0, default=DEFAULTS["DB_LOCK_TIMEOUT_MS"])
    # Settings that matter at volume: a statement or a lock wait never hangs a worker.
    database["OPTIONS"]["options"] = f"-c statement_timeout={statement_ms} -c lock_timeout={lock_ms}"
    database["CONN_HEALTH_CHECKS"] = True
    if _flag(environ, "DB_DISABLE_SERVER_SIDE_CURSORS"):
        database["DISABLE_SERVER_SIDE_CURSORS"] = True

    if pool_max:
        pool_min = _int(environ, "DB_POOL_MIN_SIZE", minimum=0, default=min(DEFAULTS["DB_POOL_MIN_SIZE"], pool_max))
        if pool_min > pool_max:
            raise ImproperlyConfigured(f"DB_POOL_MIN_SIZE ({pool_min}) is larger than DB_POOL_MAX_SIZE ({pool_max}).")
        if _int(environ, "DB_CONN_MAX_AGE", minimum=0, default=0):
            raise ImproperlyConfigured(
                "DB_POOL_MAX_SIZE and DB_CONN_MAX_AGE exclude each other: the pool keeps the "
                "connections (unset DB_CONN_MAX_AGE or set it to 0)."
            )
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"]["pool"] = {
            "min_size": pool_min,
            "max_size": pool_max,
            # How long a request waits for a free connection before failing (seconds).
            "timeout": _int(environ, "DB_POOL_TIMEOUT_S", minimum=1, default=DEFAULTS["DB_POOL_TIMEOUT_S"]),
        }
    return database
