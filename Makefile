# `make run` serves the chat on http://127.0.0.1:8000; `make test` runs every test.
SHELL := /bin/bash
# The interpreter of the virtualenv: PYTHON=... when given, else the first of these that runs, is 3.11 or
# newer and can make a virtualenv (Debian ships that part apart, in python3.X-venv). Debian's python3.11
# comes first: it is built with PGO and LTO, and runs the server 1.7x faster here than a plain source build
# (pyenv's default); any Python 3.11 to 3.13 works. A pyenv shim of a version not selected fails, and is skipped.
DEBIAN_PYTHON ?= /usr/bin/python3.11
PYTHON_CANDIDATES ?= $(DEBIAN_PYTHON) python3.13 python3.12 python3.11 python3
PYTHON_PROBE := import ensurepip, sys, venv; print("%d.%d" % sys.version_info[:2])
# Shell: succeeds when "$$p" is such an interpreter.
PYTHON_OK = case "$$("$$p" -c '$(PYTHON_PROBE)' 2>/dev/null)" in (3.1[1-9]|3.[2-9][0-9]) true;; (*) false;; esac
PYTHON ?= $(shell for p in $(PYTHON_CANDIDATES); do if $(PYTHON_OK); then echo "$$p"; break; fi; done)
NO_PYTHON := make: found no Python 3.11 or newer that can make a virtualenv (tried: $(PYTHON_CANDIDATES)). \
	Install Python 3.11, 3.12 or 3.13 (https://www.python.org/downloads/; on Debian or Ubuntu also python3.X-venv), \
	or name it: make PYTHON=/path/to/python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres test-deploy deploy-local deploy-local-stop lint services chromium venv migrate \
	bench vendor messages clean print-python

# Shell: sets p to the interpreter, or says what is missing and fails.
CHECK_PYTHON = p='$(PYTHON)'; \
	if [ -z "$$p" ]; then echo "$(NO_PYTHON)" >&2; exit 1; fi; \
	if ! $(PYTHON_OK); then echo "make: $$p is not a Python 3.11 or newer that can make a virtualenv." >&2; exit 1; fi

# Prints the interpreter `make venv` uses.
print-python:
	@$(CHECK_PYTHON); echo "$$p"

# Tests and lint need the development tools too; production installs requirements.txt alone (README).
$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || { $(CHECK_PYTHON); echo "$$p -m venv $(VENV)"; "$$p" -m venv $(VENV); }
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
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
	@# msgfmt checks the translations (tests/test_translations.py)
	@command -v msgfmt >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext)

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

# The production setup on this machine (deploy/local.sh): nginx with TLS, two server processes with
# DJANGO_DEBUG=0, PostgreSQL, a Redis of its own; prints the address. State, logs and certificate in .deploy-local/.
deploy-local: venv services
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light)
	@# The separate hosts (tests/deploy/netns.py) are network namespaces cut apart with iptables.
	@(command -v ip && command -v iptables) >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iptables)
	PYTHON=$(abspath $(BIN)/python) deploy/local.sh start

deploy-local-stop:
	PYTHON=$(abspath $(BIN)/python) deploy/local.sh stop

# The deployment under load (tests/deploy/): a rolling restart of every server process behind nginx while
# browsers and 200 sockets chat. Apart from `make test`: it takes a few minutes and runs nginx.
test-deploy: venv services chromium
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light)
	@# The separate hosts (tests/deploy/netns.py) are network namespaces cut apart with iptables.
	@(command -v ip && command -v iptables) >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iptables)
	PYTHON=$(abspath $(BIN)/python) $(BIN)/pytest -m deploy tests/deploy

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

# Translations (README "Languages and time zones"): collect the texts into locale/*/LC_MESSAGES/django.po, then
# compile the .mo files that are committed beside them.
messages: venv
	@command -v msgfmt >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext)
	$(BIN)/python manage.py makemessages --all --ignore=.venv --ignore=node_modules --ignore=bench --ignore=tests --ignore=staticfiles
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .test-db.sqlite3* .deploy-local
