#!/usr/bin/env bash
# The run command: bootstrap, migrate the database, load the demo, serve the admin.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
mkdir -p var
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.development}
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py setup_demo
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
echo "==> Gongji on http://$HOST:$PORT/admin/ (region: ${REGION:-zaozhuang}); Ctrl-C stops it"
exec .venv/bin/python manage.py runserver --noreload "$HOST:$PORT"
