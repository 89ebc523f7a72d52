.PHONY: run test up bootstrap bench messages

run:  ## run the system on the embedded default (SQLite, jobs in-process) with demo data
	scripts/run.sh

test:  ## run the whole test suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set)
	scripts/test.sh

up:  ## the production topology on one machine (gunicorn, Celery worker, beat) on PostgreSQL and Redis
	scripts/up.sh

bootstrap:
	scripts/bootstrap.sh

messages:  ## refresh and compile the Simplified Chinese translation
	.venv/bin/python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var
	.venv/bin/python manage.py compilemessages -l zh_Hans --ignore=.venv
