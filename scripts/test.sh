#!/usr/bin/env bash
# The test command: bootstrap, then the whole suite (on PostgreSQL and Redis when
# DATABASE_URL and REDIS_URL are set, else on SQLite with jobs in-process).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p var
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.development}
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null || {
  echo "models and migrations disagree: run manage.py makemigrations" >&2; exit 1; }
exec .venv/bin/python -m pytest "$@"
