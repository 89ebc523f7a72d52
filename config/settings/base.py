"""Settings shared by every environment; values come from the environment (shared CONTRACT.md)."""

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from .database import allow_prepared_statements, prepared_statements
from .imports import import_limits, import_max_cell_chars
from .site import site_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent

REGIONS = ("zaozhuang", "ziyang", "henan", "yangzhou", "jinan")
REGION = os.environ.get("REGION", "zaozhuang").strip().lower()
if REGION not in REGIONS:
    raise RuntimeError(f"REGION must be one of {', '.join(REGIONS)}, not {REGION!r}")
# The region's division code in the national interface (gateway); empty: the region's default.
NHSA_DIVISION_CODE = os.environ.get("NHSA_DIVISION_CODE", "").strip()

SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"}
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
# The site's address for links sent outside a request (e-mails): https://host[/prefix], no
# trailing slash (config/settings/site.py). Required in production; development falls back.
SITE_URL = site_url(os.environ)

INSTALLED_APPS = [
    # The staff-only admin site (config/admin_site.py) in place of django.contrib.admin's default.
    "config.admin_apps.GongjiAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served by the project (closed networks)
    "django_filters",
    "import_export",
    "simple_history",
    "django_celery_beat",
    "axes",
    "csp",
    # Second factor for agency staff (core.otp): time-based codes and recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "core",
    "members",
    "pharmacies",
    "claims",
    "supervision",
    "gateway",
    "demo",
]

MIDDLEWARE = [
    "core.observability.RequestIdMiddleware",
    # NUL bytes in the address (400) and API bodies over API_MAX_BODY_BYTES (413), before any view.
    "core.guard.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (django-csp; CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.auth.SlidingSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): signed in with the second factor too (django-otp) ...
    "django_otp.middleware.OTPMiddleware",
    # ... and nothing but the code pages until then, for whoever needs it (core.otp).
    "core.otp.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "core.auth.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login protection (等保 level 3 / OWASP ASVS L2). Five failures lock the pair (username, client
# address) out for 30 minutes: an office behind one address, or the proxy, is never locked as a
# whole, and nobody locks a colleague out from another machine. A success resets the count.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("LOGIN_LOCKOUT_HOURS", "0.5"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
# The client address: X-Forwarded-For as written by TRUSTED_PROXY_COUNT trusted proxies in front
# of the site (0: no proxy, REMOTE_ADDR). core.auth.client_ip.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "core.auth.client_ip"
# One username guessed from many addresses: after LOGIN_BACKOFF_FREE_ATTEMPTS failures, each
# attempt waits 2, 4, 8 … s (at most LOGIN_BACKOFF_MAX_SECONDS) after the last failure (core.auth).
LOGIN_BACKOFF_FREE_ATTEMPTS = int(os.environ.get("LOGIN_BACKOFF_FREE_ATTEMPTS", "3"))
LOGIN_BACKOFF_MAX_SECONDS = int(os.environ.get("LOGIN_BACKOFF_MAX_SECONDS", "60"))
AXES_VERBOSE = False
# Second factor (等保 2.0 level 3: two factors for those who administer the system). Every agency
# user (staff accounts, superusers, every agency role) enrols a time-based one-time code on first
# login and enters a code after the password from then on; provider staff may opt in (core.otp).
# Code failures count towards the lockout and the back-off like password failures.
STAFF_OTP_REQUIRED = os.environ.get("STAFF_OTP_REQUIRED", "true").lower() in {"1", "true", "yes", "on"}
OTP_TOTP_ISSUER = "Gongji"
OTP_RECOVERY_CODE_COUNT = 10
# Sessions expire after 30 minutes of inactivity (core.auth.SlidingSessionMiddleware
# pushes the expiry back while the user is active).
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_MINUTES", "30")) * 60

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "core.regions.context",
            ],
        },
    },
]

# The embedded default is an SQLite file inside the checkout (CONTRACT.md).
DEFAULT_SQLITE_PATH = BASE_DIR / "var" / "gongji.sqlite3"
# Persistent connections (DB_CONN_MAX_AGE seconds) are checked before a request reuses one, so
# a worker whose connection died with a database restart reconnects instead of failing once.
DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", "60"))
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}",
        conn_max_age=DB_CONN_MAX_AGE,
        conn_health_checks=DB_CONN_MAX_AGE != 0,
    )
}
# While the database cannot be reached the API answers 503 `database_unavailable` with this
# Retry-After (core.api).
DATABASE_RETRY_AFTER_SECONDS = int(os.environ.get("DB_RETRY_AFTER_SECONDS", "5"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}
# The hot path's fixed statements are prepared on PostgreSQL (core.sql; config/settings/database.py
# says why and when not).
PREPARED_STATEMENTS = prepared_statements(os.environ)
if PREPARED_STATEMENTS:
    DATABASES["default"] = allow_prepared_statements(DATABASES["default"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Agreements (pharmacies): a provider's credit is read through this function, because the
# scores live in supervision and pharmacies may not import it (README, Layout). Ziyang
# 第二十一条(二) ties the assessment to renewal; which grades refuse a renewal is the agency's
# choice (supervision.credit_rating: A ≥ 90, B ≥ 75, C ≥ 60, D below). The portal and the workbench
# show agreements ending within AGREEMENT_EXPIRY_WARNING_DAYS that are not yet renewed.
PROVIDER_CREDIT_READER = "supervision.readers.provider_latest_credit"
AGREEMENT_RENEWAL_REFUSED_GRADES = ("D",)
AGREEMENT_EXPIRY_WARNING_DAYS = 90

# Celery: with no REDIS_URL, jobs run in-process (eager), as CONTRACT.md says.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Redis going away never stops a worker or beat: they retry for as long as it takes (the
# default gives up after 100 attempts, about 50 minutes) and carry on when it is back.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task a worker took but never acknowledged (the worker died, or lost Redis) is handed out
# again after this long. Every task here is idempotent and takes seconds to a minute (the
# nightly monitoring of a busy day, about 40 s at a million settlements), so 15 minutes gives
# them room without leaving a month's credit chunks waiting for Redis's default hour.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT_S", "900"))}
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "PAGE_SIZE": 50,
    "COERCE_DECIMAL_TO_STRING": True,
    # JSON only, refusing deep nesting and NaN/Infinity (core.parsers); forms for the browsable
    # session clients of the admin's own pages.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.BoundedLimitOffsetPagination",
}
# The largest API request body (a settlement of 1,000 lines is about 100 KB) and the deepest
# JSON nesting (the contract's requests nest 3 levels).
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(2 * 1024 * 1024)))
API_MAX_JSON_DEPTH = int(os.environ.get("API_MAX_JSON_DEPTH", "32"))
# API tokens (core.tokens): how long an issued token works, how long the old one keeps working
# after a rotation, and how often its "last used" time is written (never once per request).
API_TOKEN_LIFETIME_DAYS = int(os.environ.get("API_TOKEN_LIFETIME_DAYS", "365"))
API_TOKEN_ROTATION_OVERLAP_HOURS = int(os.environ.get("API_TOKEN_ROTATION_OVERLAP_HOURS", "24"))
API_TOKEN_LAST_USED_INTERVAL_SECONDS = int(os.environ.get("API_TOKEN_LAST_USED_INTERVAL_SECONDS", "60"))
# Content-Security-Policy (django-csp 4; README, Security: input, files, money and operations).
# Scripts only from the site's own files: no inline <script>, no on*= handlers in any template
# (tests/core/test_csp.py greps them), Swagger UI's start script served as a file
# (SpectacularSwaggerSplitView). Styles allow 'unsafe-inline': Django's admin writes <style>
# elements (the changelist) and the project's printable pages carry their own; a style cannot run
# code, and with every other source 'self' it cannot send anything off the site.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gongji API (共济)",
    "DESCRIPTION": "Outpatient mutual-aid settlement API for designated providers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are public and read no credentials: a dead token sent to them
    # would otherwise be refused by the docs' HTML or YAML renderer, outside the one error shape.
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the project's own static files: an agency's closed network reaches no
    # public CDN, and the files are pinned with the package's version (issue 11).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge from the public validator (validator.swagger.io): nothing leaves a closed network,
    # and img-src is 'self'.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

IMPORT_EXPORT_USE_TRANSACTIONS = True
# Exports write formula-leading text (=, +, -, @, tab, CR) as text (core.exports, EXPORT_FORMATS),
# and the admin's CSV upload detects
# UTF-8 or GBK (Chinese Excel) like the import_* commands do (core.imports.pipeline).
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
from core.imports.formats import EXPORT_FORMATS, IMPORT_FORMATS  # noqa: E402,F401  (format classes only; no models)

IMPORT_EXPORT_SKIP_ADMIN_LOG = False
# Every import (commands and admin) refuses a file larger than IMPORT_MAX_BYTES or with more
# than IMPORT_MAX_ROWS data rows before reading it whole (config/settings/imports.py).
IMPORT_MAX_BYTES, IMPORT_MAX_ROWS = import_limits(os.environ)
# The longest cell (characters) an import reads, streaming: a longer one refuses the file naming
# its row and column (core.imports.pipeline), the reconciliation list and the rule library alike.
IMPORT_MAX_CELL_CHARS = import_max_cell_chars(os.environ)
# Importing creates and changes rows: only roles that may add (经办) see the import button.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

LOGIN_URL = "/admin/login/"

# Structured logs: one JSON object per line with the request id (LOG_FORMAT=plain for a
# terminal); identity numbers are masked in every line whatever the format.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_id_numbers": {"()": "core.observability.MaskIdNumbersFilter"}},
    "formatters": {
        "json": {"()": "core.observability.JsonFormatter"},
        "plain": {
            "()": "core.observability.MaskingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("LOG_FORMAT", "json"),
            "filters": ["mask_id_numbers"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# Bounds of one settlement (claims.services): a line or a visit beyond them is refused with
# its own code (quantity_too_large, unit_price_too_large, line_amount_too_large,
# visit_total_too_large) before anything is computed. An outpatient bill is far below them;
# they keep every amount (and a provider's monthly sums) well inside MoneyField's 14 digits.
SETTLEMENT_MAX_QUANTITY = Decimal(os.environ.get("SETTLEMENT_MAX_QUANTITY", "10000"))
SETTLEMENT_MAX_UNIT_PRICE = Decimal(os.environ.get("SETTLEMENT_MAX_UNIT_PRICE", "500000.00"))
SETTLEMENT_MAX_LINE_AMOUNT = Decimal(os.environ.get("SETTLEMENT_MAX_LINE_AMOUNT", "1000000.00"))
SETTLEMENT_MAX_VISIT_TOTAL = Decimal(os.environ.get("SETTLEMENT_MAX_VISIT_TOTAL", "1000000.00"))
# How many days back a visit may be settled, when the region's policy version does not set
# `settlement_window_days` (claims/policies/FORMAT.md). 0 turns the window off.
SETTLEMENT_WINDOW_DAYS = int(os.environ.get("SETTLEMENT_WINDOW_DAYS", "365"))
