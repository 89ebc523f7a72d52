"""Operations: health endpoints, structured logs, production settings."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.observability import JsonFormatter, MaskIdNumbersFilter

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL"}}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )


# real_clock: runs manage.py in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_production_settings_pass_check_deploy_with_no_warnings():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="x" * 10 + "a-long-random-production-secret-key-for-the-test-0123456789",
        ALLOWED_HOSTS="gongji.example.gov.cn", SITE_URL="https://gongji.example.gov.cn",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# real_clock: runs manage.py in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_collectstatic_with_the_production_storage_succeeds(tmp_path):
    """`make up` runs collectstatic with the hashed manifest storage, which refuses a file that
    references one that is missing (a vendored script's source map, say): the topology would
    not start."""
    result = _manage(
        "collectstatic", "--noinput", "-v0",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="x" * 10 + "a-long-random-production-secret-key-for-the-test-0123456789",
        ALLOWED_HOSTS="gongji.example.gov.cn", SITE_URL="https://gongji.example.gov.cn", STATIC_ROOT=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    assert {"vendor/chart.umd.min.js", "admin/css/base.css"} <= set(manifest)
    assert (tmp_path / manifest["vendor/chart.umd.min.js"]).is_file()


# real_clock: runs manage.py in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_production_settings_refuse_to_start_without_secret_key():
    result = _manage("check", DJANGO_SETTINGS_MODULE="config.settings.production", ALLOWED_HOSTS="x")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_health_and_readiness_endpoints_answer(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_readiness_reports_a_broker_that_is_down_without_failing_the_site(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"]["broker"].startswith("down")


@pytest.mark.django_db
def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="his-req-00000001")
    assert response["X-Request-ID"] == "his-req-00000001"
    assert len(client.get("/healthz")["X-Request-ID"]) == 32


def test_identity_numbers_are_masked_in_log_lines():
    record = logging.LogRecord("gongji", logging.INFO, __file__, 1, "member %s read", ("370402199001011237",), None)
    MaskIdNumbersFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "370402199001011237" not in line
    assert "370402********1237" in line


# real_clock: runs manage.py in a subprocess, whose clock the suite's fixed hour does not reach.
@pytest.mark.real_clock
def test_health_probes_are_not_redirected_to_https_with_the_production_settings(tmp_path):
    """/healthz and /readyz answer a plain-HTTP probe themselves (SECURE_REDIRECT_EXEMPT); every
    other page still redirects to HTTPS."""
    code = (
        "from django.test import Client; c = Client();"
        "print('healthz', c.get('/healthz').status_code);"
        "print('readyz', c.get('/readyz').status_code);"
        "print('admin', c.get('/admin/login/').status_code)"
    )
    result = _manage(
        "shell", "-c", code,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="x" * 10 + "a-long-random-production-secret-key-for-the-test-0123456789",
        ALLOWED_HOSTS="testserver", SITE_URL="https://testserver", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", REDIS_URL="",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answers = dict(line.split()[:2] for line in result.stdout.splitlines() if line.split()[:1] in (["healthz"], ["readyz"], ["admin"]))
    assert answers["admin"] == "301"
    assert answers["healthz"] in {"200", "503"}
    assert answers["readyz"] in {"200", "503"}


ID = "370402199001011237"
MASKED = "370402********1237"


def test_the_gunicorn_access_log_masks_identity_numbers_in_paths(capsys):
    """The benefits endpoint's path holds the member's ID number: the access line masks it."""
    import datetime
    from types import SimpleNamespace

    from gunicorn.config import Config

    from core.observability import MaskingGunicornLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = MaskingGunicornLogger(cfg)
    response = SimpleNamespace(status="200", response_length=10, headers=(("Content-Type", "application/json"),), sent=10)
    request = SimpleNamespace(headers=(("Referer", f"https://x/members/{ID}"),))
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/api/v1/members/{ID}/benefits?year=2026",
               "PATH_INFO": f"/api/v1/members/{ID}/benefits", "QUERY_STRING": "year=2026", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": f"https://x/members/{ID}"}
    logger.access(response, request, environ, datetime.timedelta(seconds=1))
    logger.error("worker failed on /api/v1/members/%s/benefits", ID)
    written = capsys.readouterr()
    lines = written.out + written.err
    assert f"/api/v1/members/{MASKED}/benefits" in lines
    assert ID not in lines


def test_gunicorn_uses_the_masking_logger():
    config = (ROOT / "config" / "gunicorn.py").read_text()
    assert 'logger_class = "core.observability.MaskingGunicornLogger"' in config


def test_celery_worker_and_task_loggers_mask_identity_numbers():
    import io

    from config.celery import _mask_id_numbers

    stream = io.StringIO()
    logger = logging.getLogger("test.celery.masking")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        _mask_id_numbers(logger=logger)
        logger.warning("task failed for %s", ID)
        try:
            raise ValueError(f"member {ID} not found")
        except ValueError:
            logger.exception("task crashed")
    finally:
        logger.removeHandler(handler)
    assert MASKED in stream.getvalue()
    assert ID not in stream.getvalue()


@pytest.mark.parametrize("formatter", ["json", "plain"])
def test_both_log_formats_mask_identity_numbers_in_tracebacks(formatter):
    from django.conf import settings
    from django.utils.module_loading import import_string

    spec = dict(settings.LOGGING["formatters"][formatter])
    factory = import_string(spec.pop("()"))
    fmt = factory(spec.pop("format")) if "format" in spec else factory()
    try:
        raise KeyError(ID)
    except KeyError:
        import sys

        record = logging.LogRecord("gongji", logging.ERROR, __file__, 1, "lookup of %s failed", (ID,), sys.exc_info())
    record.request_id = "-"
    line = fmt.format(record)
    assert ID not in line
    assert MASKED in line


def test_the_api_docs_load_swagger_ui_from_the_projects_own_static_files(client):
    """Issue 11: no public CDN (an agency's closed network), files pinned with the package."""
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page and "//cdn" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
