"""Development and test settings: the embedded default (SQLite, jobs in-process) unless told otherwise."""

import os

from .base import *  # noqa: F403
from .site import DEVELOPMENT_SITE_URL

DEBUG = os.environ.get("DEBUG", "1").lower() in {"1", "true", "yes", "on"}
SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-do-not-use-in-production"  # noqa: F405
ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "testserver"]  # noqa: F405
SITE_URL = SITE_URL or DEVELOPMENT_SITE_URL  # noqa: F405  (runserver's address)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
LOGGING["handlers"]["console"]["formatter"] = os.environ.get("LOG_FORMAT", "plain")  # noqa: F405
# Static files straight from the apps in development; production serves collectstatic's output.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Development-only tools (the benchmarks, README "Benchmarks"): never installed in production.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]  # noqa: F405
