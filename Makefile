# `make run` serves the chat on http://127.0.0.1:8000; `make test` runs every test.
SHELL := /bin/bash
# Debian's python3.11 is built with PGO and LTO: it runs the server 1.7x faster here than
# a plain source build (pyenv's default); any Python 3.11 works.
PYTHON ?= $(shell /usr/bin/python3.11 -c 'import ensurepip, venv' 2>/dev/null && echo /usr/bin/python3.11 || echo python3.11)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres lint services chromium venv migrate bench vendor clean

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(BIN)/.installed

migrate: venv
	$(BIN)/python manage.py migrate --noinput

# Local development defaults (DEBUG on, SQLite, in-memory layer) unless the environment says otherwise.
run: migrate
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python -m project.serve -b $(HOST) -p $(PORT) project.asgi:application

# Redis and PostgreSQL, started (or installed) when missing.
services:
	@command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)
	@redis-cli -p 6379 ping >/dev/null 2>&1 || (mkdir -p /var/lib/redis /var/log/redis && redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log)
	@command -v pg_ctlcluster >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 1 30); do redis-cli -p 6379 ping >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; echo "services did not start" >&2; exit 1
	@psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" | grep -q 1 || psql -h 127.0.0.1 -U postgres -c "create database test"

chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: venv services chromium lint test-sqlite test-postgres

test-sqlite: venv
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# The data and socket tests again on PostgreSQL (browser and live-server tests ran on SQLite above).
test-postgres: venv
	DATABASE_URL=$(PG_URL) $(BIN)/pytest -m "not browser and not live"

# Fan-out benchmarks (bench/README.md): `make bench`, `make bench ARGS=--quick`, `make bench ARGS="--json out.json"`.
# Each run starts and stops its own Redis on a free port; only redis-server must be installed.
ARGS ?=
bench: venv
	@command -v redis-server >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(MAKE) bench/.uvicorn/.installed
	$(BIN)/python -m bench.run $(ARGS)

# uvicorn for the optional comparison stacks, apart from the app's environment (see bench/procs.py).
bench/.uvicorn/.installed: bench/uvicorn-requirements.txt | venv
	rm -rf bench/.uvicorn
	$(BIN)/pip install --quiet --disable-pip-version-check --target bench/.uvicorn -r bench/uvicorn-requirements.txt
	touch $@

vendor:
	npm ci && npm run vendor

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .test-db.sqlite3*
