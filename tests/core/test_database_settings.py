"""Production database settings: persistent connections by default, Django's psycopg pool on
DB_POOL_MAX_SIZE, the statement and lock timeouts on every connection (pooled ones too)."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.db.backends.postgresql.base import DatabaseWrapper

from config.settings.database import allow_prepared_statements, prepared_statements, production_database

ROOT = Path(__file__).resolve().parents[2]
PG = {"ENGINE": "django.db.backends.postgresql", "NAME": "gongji", "USER": "gongji", "PASSWORD": "",
      "HOST": "db.example", "PORT": 5432, "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": False}
TIMEOUTS = "-c statement_timeout=30000 -c lock_timeout=5000"


def test_by_default_each_process_keeps_one_persistent_connection_with_the_timeouts():
    got = production_database(PG, {})
    assert got == {**PG, "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True, "OPTIONS": {"options": TIMEOUTS}}
    assert "OPTIONS" not in PG  # the parsed DATABASE_URL is not changed in place


def test_fixed_statements_are_prepared_unless_told_not_to():
    assert prepared_statements({}) is True
    assert prepared_statements({"DB_PREPARED_STATEMENTS": "0"}) is False  # e.g. behind an old PgBouncer
    with pytest.raises(ImproperlyConfigured, match="DB_PREPARED_STATEMENTS must be 1 or 0"):
        prepared_statements({"DB_PREPARED_STATEMENTS": "maybe"})
    assert allow_prepared_statements(PG)["OPTIONS"] == {"prepare_threshold": 5}
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3"}
    assert allow_prepared_statements(sqlite) == sqlite


def test_db_pool_max_size_turns_on_the_pool_and_drops_persistent_connections():
    got = production_database(PG, {"DB_POOL_MAX_SIZE": "8", "DB_STATEMENT_TIMEOUT_MS": "15000"})
    assert got["CONN_MAX_AGE"] == 0
    assert got["OPTIONS"] == {
        "options": "-c statement_timeout=15000 -c lock_timeout=5000",
        "pool": {"min_size": 2, "max_size": 8, "timeout": 10},
    }
    small = production_database(PG, {"DB_POOL_MAX_SIZE": "1", "DB_POOL_TIMEOUT_S": "3", "DB_CONN_MAX_AGE": "0"})
    assert small["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 1, "timeout": 3}


def test_behind_pgbouncer_server_side_cursors_can_be_turned_off():
    assert production_database(PG, {"DB_DISABLE_SERVER_SIDE_CURSORS": "1"})["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "DISABLE_SERVER_SIDE_CURSORS" not in production_database(PG, {"DB_DISABLE_SERVER_SIDE_CURSORS": "0"})


@pytest.mark.parametrize(("environ", "message"), [
    ({"DB_POOL_MAX_SIZE": "eight"}, "DB_POOL_MAX_SIZE must be a whole number"),
    ({"DB_POOL_MAX_SIZE": "-1"}, "DB_POOL_MAX_SIZE must be at least 0"),
    ({"DB_POOL_MAX_SIZE": "4", "DB_POOL_MIN_SIZE": "5"}, "DB_POOL_MIN_SIZE (5) is larger than DB_POOL_MAX_SIZE (4)"),
    ({"DB_POOL_MAX_SIZE": "4", "DB_CONN_MAX_AGE": "60"}, "DB_POOL_MAX_SIZE and DB_CONN_MAX_AGE exclude each other"),
    ({"DB_POOL_MAX_SIZE": "4", "DB_POOL_TIMEOUT_S": "0"}, "DB_POOL_TIMEOUT_S must be at least 1"),
    ({"DB_STATEMENT_TIMEOUT_MS": "30s"}, "DB_STATEMENT_TIMEOUT_MS must be a whole number"),
    # The value goes into the connection's startup options: nothing but a number gets there.
    ({"DB_LOCK_TIMEOUT_MS": "0 -c search_path=evil"}, "DB_LOCK_TIMEOUT_MS must be a whole number"),
    ({"DB_DISABLE_SERVER_SIDE_CURSORS": "maybe"}, "DB_DISABLE_SERVER_SIDE_CURSORS must be 1 or 0"),
])
def test_a_wrong_setting_stops_the_start_naming_the_variable(environ, message):
    with pytest.raises(ImproperlyConfigured) as refused:
        production_database(PG, environ)
    assert message in str(refused.value)


def test_the_pool_needs_postgresql():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3", "CONN_MAX_AGE": 60}
    assert production_database(sqlite, {}) == {**sqlite, "OPTIONS": {}}
    with pytest.raises(ImproperlyConfigured, match="DB_POOL_MAX_SIZE needs PostgreSQL"):
        production_database(sqlite, {"DB_POOL_MAX_SIZE": "4"})


# --- the real production settings module ------------------------------------------------

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "x" * 10 + "a-long-random-production-secret-key-for-the-test-0123456789",
    "ALLOWED_HOSTS": "gongji.example.gov.cn",
    "SITE_URL": "https://gongji.example.gov.cn",
    "DATABASE_URL": "postgres://gongji:secret@db.example:5432/gongji",
}


def _run(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    full_env.update(PRODUCTION_ENV, **env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120)


# real_clock: runs Python in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_production_settings_with_the_pool_give_the_databases_setting_django_pools_with():
    script = "import django, json; django.setup(); from django.conf import settings; print(json.dumps(settings.DATABASES['default'], default=str))"
    result = _run("-c", script, DB_POOL_MAX_SIZE="6", DB_POOL_MIN_SIZE="1", DB_LOCK_TIMEOUT_MS="2000")
    assert result.returncode == 0, result.stderr
    default = json.loads(result.stdout.strip().splitlines()[-1])
    assert (default["ENGINE"], default["HOST"], default["NAME"]) == ("django.db.backends.postgresql", "db.example", "gongji")
    assert (default["CONN_MAX_AGE"], default["CONN_HEALTH_CHECKS"]) == (0, True)
    assert default["OPTIONS"] == {
        "options": "-c statement_timeout=30000 -c lock_timeout=2000",
        "pool": {"min_size": 1, "max_size": 6, "timeout": 10},
        # psycopg's prepared-statement cache, for core.sql's statements (base settings).
        "prepare_threshold": 5,
    }


# real_clock: runs Python in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_production_settings_with_the_pool_pass_check_deploy():
    result = _run("manage.py", "check", "--deploy", "--fail-level", "WARNING", DB_POOL_MAX_SIZE="4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# real_clock: runs Python in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_production_settings_refuse_a_pool_with_persistent_connections():
    result = _run("manage.py", "check", DB_POOL_MAX_SIZE="4", DB_CONN_MAX_AGE="60")
    assert result.returncode != 0
    assert "DB_POOL_MAX_SIZE and DB_CONN_MAX_AGE exclude each other" in result.stderr


# --- a pooled connection against PostgreSQL -----------------------------------------------


@pytest.fixture
def pooled(on_postgres):
    """A second connection alias to the test database, configured as production would be
    with DB_POOL_MAX_SIZE=2 and short timeouts."""
    base = {key: value for key, value in on_postgres.settings_dict.items() if key != "OPTIONS"}
    settings_dict = production_database(
        {**base, "OPTIONS": {}},
        {"DB_POOL_MAX_SIZE": "2", "DB_POOL_MIN_SIZE": "1", "DB_POOL_TIMEOUT_S": "5",
         "DB_STATEMENT_TIMEOUT_MS": "300", "DB_LOCK_TIMEOUT_MS": "200"},
    )
    wrappers = []

    def connect() -> DatabaseWrapper:
        wrapper = DatabaseWrapper(settings_dict, alias="pool_probe")
        wrappers.append(wrapper)
        return wrapper

    yield connect
    for wrapper in wrappers:
        if wrapper._thread_ident == threading.get_ident():  # other threads closed their own
            wrapper.close()
    pool = DatabaseWrapper._connection_pools.pop("pool_probe", None)
    if pool is not None:
        pool.close()


def _one(wrapper, sql):
    with wrapper.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_a_pooled_connection_carries_the_timeouts_and_is_reused(pooled):
    db = pooled()
    assert _one(db, "SHOW statement_timeout") == "300ms"
    assert _one(db, "SHOW lock_timeout") == "200ms"
    assert db.connection._pool is db.pool  # it came from Django's psycopg pool
    pids = set()
    for _request in range(6):  # six requests one after the other, each closing its connection
        pids.add(_one(db, "SELECT pg_backend_pid()"))
        assert _one(db, "SHOW statement_timeout") == "300ms"
        db.close()  # back to the pool, not closed
    assert len(pids) <= 2  # never more backends than DB_POOL_MAX_SIZE: they are reused
    alive = _one(pooled(), f"SELECT count(*) FROM pg_stat_activity WHERE pid IN ({','.join(map(str, pids))})")
    assert alive == len(pids)


def test_the_statement_timeout_stops_a_long_statement_on_a_pooled_connection(pooled):
    db = pooled()
    with pytest.raises(OperationalError, match="statement timeout"):
        _one(db, "SELECT pg_sleep(5)")
    db.close()
    assert _one(db, "SELECT 1") == 1  # the connection the pool hands out next works


def test_threads_of_one_process_share_the_pool(pooled):
    """gthread: two requests at once in one process each get their own pooled connection."""
    barrier, pids, pools, errors = threading.Barrier(2, timeout=10), [], set(), []

    def request():
        try:
            db = pooled()
            pids.append(_one(db, "SELECT pg_backend_pid()"))
            pools.add(id(db.connection._pool))
            barrier.wait()  # both hold a connection at the same time
            db.close()
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors, errors
    assert len(pids) == 2 and len(set(pids)) == 2
    assert len(pools) == 1
