#!/usr/bin/env bash
# The production topology on one machine: gunicorn (site, API, static files through
# whitenoise), Celery workers and Celery beat, all with production settings, against the
# PostgreSQL and Redis named by DATABASE_URL and REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to the PostgreSQL database (see .env.example)}"
: "${REDIS_URL:?set REDIS_URL to the Redis broker (see .env.example)}"
: "${SECRET_KEY:?set SECRET_KEY (production settings refuse to start without it)}"
export DJANGO_SETTINGS_MODULE=config.settings.production
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-127.0.0.1,localhost}
export SITE_URL=${SITE_URL:-http://${BIND:-127.0.0.1:8000}}
scripts/bootstrap.sh
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py check --deploy
exec .venv/bin/honcho start -f Procfile
