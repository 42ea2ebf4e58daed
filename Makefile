# Developer entry points. Everything runs from the project's own virtualenv.
#
#   make run [PORT=9000]          migrate, seed demo data (once), serve with gunicorn + uvicorn (--reload)
#   make test [PYTEST_ARGS=-q]    run the test suite (SQLite)
#   make test-postgres            run the test suite against a throwaway PostgreSQL
#   make lint                     ruff over the tree, Django system checks incl. deployment checks
#   make fuzz [FUZZ_EXAMPLES=100] schemathesis against a live server, driven by /api/v1/schema/
#   make clients                  kitsu and clients generated from /api/v1/schema/ against a live server (needs node, npm)
#   make screenshots              PNGs of the main pages at desktop and phone width, demo data (needs chromium)
#   make soak [SOAK_ARGS=--redis]  10 minutes of load on two servers over one PostgreSQL: no 5xx, no lost write, flat memory
#   make faults                   PostgreSQL stopped mid-load and a worker killed: 503s, recovery, nothing half-applied
#   make bench [BENCH_ARGS=...]   performance harness: large seed, gunicorn + wrk, figures vs a plain-Django ceiling
#   make bench-postgres           the same on a throwaway PostgreSQL cluster
#   make bench-sse                1,000 SSE listeners on one worker: delivery p50/p99, memory per listener
#   make clean                    remove the virtualenv, the dev database and collected static files

PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
PYTEST_ARGS ?=
# Both cores by default; `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
FUZZ_EXAMPLES ?= 100

VENV_PYTHON := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
# A failed recipe must not leave a half-made target (e.g. a stamp) behind.
.DELETE_ON_ERROR:

.PHONY: help setup setup-dev run test test-postgres lint clean
.PHONY: fuzz clients bench bench-postgres bench-driver bench-sse screenshots soak faults

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# --- environment -------------------------------------------------------------

setup: $(RUNTIME_STAMP)
	@# Static files for whitenoise (it also serves them straight from the apps; this just makes serving cheaper).
	DJANGO_SETTINGS_MODULE=config.settings.local $(VENV_PYTHON) manage.py collectstatic --noinput -v0

setup-dev: $(DEV_STAMP)

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

# The stamps make re-running setup instant unless a requirements file changed.
# The interpreter is an order-only prerequisite: its timestamp is irrelevant.
$(RUNTIME_STAMP): requirements.txt | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip
	$(VENV_PYTHON) -m pip install -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt $(RUNTIME_STAMP)
	$(VENV_PYTHON) -m pip install -r requirements-dev.txt
	touch $@

# --- everyday tasks ----------------------------------------------------------

run: setup
	$(VENV_PYTHON) manage.py migrate --noinput
	PORT=$(PORT) $(VENV_PYTHON) manage.py seed_demo --if-empty
	@# gunicorn with the root gunicorn.conf.py (ASGI, uvicorn's worker), as in production, so
	@# Server-Sent Events stream here too (runserver is WSGI); --reload restarts on code changes.
	$(VENV)/bin/gunicorn -b 127.0.0.1:$(PORT) -w 1 --reload --access-logfile -

test: setup-dev
	$(VENV_PYTHON) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-postgres: setup-dev
	VENV=$(VENV) bash scripts/test_postgres.sh $(PYTEST_ARGS)

# Reliability (scripts/reliability.py) on a throwaway PostgreSQL: `make soak` (10 minutes of mixed
# load on two servers; SOAK_ARGS=--redis for the cache in Redis) and `make faults` (the database
# stopped for 20 s mid-load, a worker killed). .ci/run runs short versions.
SOAK_ARGS ?=
soak: setup-dev
	VENV=$(VENV) bash scripts/test_postgres.sh -- $(VENV_PYTHON) scripts/reliability.py soak $(SOAK_ARGS)

faults: setup-dev
	VENV=$(VENV) bash scripts/test_postgres.sh -- $(VENV_PYTHON) scripts/reliability.py faults $(FAULTS_ARGS)

# A longer schemathesis pass than CI's (.ci/run uses a handful of examples per operation).
fuzz: setup-dev
	VENV=$(VENV) bash scripts/fuzz.sh $(FUZZ_EXAMPLES)

# The browser tests' Chromium is Debian's (Playwright cannot download its own here).
screenshots: setup-dev
	SCREENSHOTS_DIR=$(CURDIR)/screenshots $(VENV_PYTHON) -m pytest -m screenshots tests/browser/test_screenshots.py -q -s

# Third-party clients (scripts/clients/run_js.sh): kitsu, openapi-typescript + openapi-fetch,
# openapi-python-client, each driving the seed-004 flows against gunicorn. .ci/run does the same.
clients: setup-dev
	VENV=$(VENV) bash scripts/clients/run_js.sh

# The deploy check runs the production settings with a throwaway secret key and asset key
# generated on the spot, so no real secret is ever needed (or leaked) here.
lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV_PYTHON) manage.py check
	DJANGO_SETTINGS_MODULE=config.settings.production \
	DJANGO_SECRET_KEY="$$($(VENV_PYTHON) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	DJANGO_ASSET_KEYS="$$($(VENV_PYTHON) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	DJANGO_ALLOWED_HOSTS=localhost \
	$(VENV_PYTHON) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles

# Performance harness: seeds a large database, serves it with gunicorn, drives it with wrk.
bench: setup bench-driver
	$(VENV_PYTHON) -m bench.run $(BENCH_ARGS)

# 1,000 Server-Sent Events listeners on one worker: delivery latency and memory per listener.
bench-sse: setup
	$(VENV_PYTHON) -m bench.sse $(BENCH_ARGS)

bench-postgres: setup bench-driver
	VENV=$(VENV) bash scripts/test_postgres.sh -- $(VENV_PYTHON) -m bench.run $(BENCH_ARGS)

bench-driver:
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
		|| echo "wrk could not be installed; using the Python driver"
