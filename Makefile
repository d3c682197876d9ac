# The verbs a newcomer looks for. `make run` = the monolith; `make test` = everything CI runs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run reset venv migrate seed test test-fast test-services lint format kafka kafka-stop db redis services services-stop bench clean split split-stop validate-deploy nginx compose-up compose-down compose-reset compose-test migrate-demo trace-backend
# The Postgres URLs of every alias (scripts/postgres-local prints them).
PG_ENV = eval "$$(scripts/postgres-local env)"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

migrate: venv                 ## migrate every database alias (each app only into its own)
	$(PY) manage.py migrate_all -v 0

seed: migrate                 ## demo users and products (idempotent)
	$(PY) manage.py seed_demo

# make run HOST=0.0.0.0 PORT=8200: where the monolith listens (it prints the URLs it serves).
HOST ?= 127.0.0.1
PORT ?= 8000
# The embedded databases: SQLite files here (SHOP_DATA_DIR moves them, as for the settings).
DATA_DIR := $(or $(SHOP_DATA_DIR),data)

run: seed                     ## the monolith at http://$(HOST):$(PORT) (SQLite per app, in-process events)
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload

reset: venv                   ## wipe the embedded databases (DATA_DIR/*.sqlite3) and seed them again
	@if env | grep -q '^DATABASE_URL_'; then \
	  echo "make reset wipes the embedded SQLite databases only; DATABASE_URL_* is set (Postgres: scripts/postgres-local dropdbs)"; \
	  exit 1; fi
	rm -f $(DATA_DIR)/*.sqlite3 $(DATA_DIR)/*.sqlite3-wal $(DATA_DIR)/*.sqlite3-shm $(DATA_DIR)/celerybeat-schedule*
	$(MAKE) --no-print-directory seed

lint: venv validate-deploy     ## ruff, formatting, import contracts, mypy (events, services, handlers)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-fast: venv               ## the suite on the embedded defaults (SQLite per app, local transport)
	$(VENV)/bin/pytest -q -m "not kafka and not postgres and not redis and not containers"

# Postgres, Kafka and Redis are started for the suite and stopped after it if it started them.
test-services: venv nginx trace-backend  ## the whole suite again on Postgres per app + Kafka, incl. the fault tests
	scripts/with-services bash -c '$(PG_ENV) && EVENTS_TRANSPORT=kafka $(VENV)/bin/pytest -q -m "not containers"'

test: lint test-fast test-services  ## lint, import contracts, both suites (the README's test command)

services: db kafka redis nginx trace-backend ## everything shapes 2 and 3 need, started (nginx: installed; the trace backend: built) locally
services-stop:                ## stop the local Kafka and Redis (Postgres stays: scripts/postgres-local stop)
	-scripts/kafka-local stop
	-scripts/redis-local stop

kafka:                        ## a local Apache Kafka broker (KRaft) on 127.0.0.1:9092
	scripts/kafka-local start
kafka-stop:
	scripts/kafka-local stop
db:                           ## one Postgres database per alias on the local cluster
	scripts/postgres-local start >/dev/null
redis:
	scripts/redis-local start

bench: venv services          ## the benchmarks, one after the other (bench/README.md); they print figures, assert nothing
	$(PG_ENV) && $(PY) -m bench.relay_throughput && $(PY) -m bench.read_model_list && $(PY) -m bench.saga_latency

clean:
	rm -rf data .cache/kafka/run

# --- moving between shapes ------------------------------------------------------------------------
migrate-demo: venv services   ## the migration performed: shape 1 -> 2 -> 3 under traffic, narrated with its figures (DEMO_ARGS="--rollback --keep")
	$(PY) -m devtools.migrate_demo $(DEMO_ARGS)

# --- shape 3: split services -----------------------------------------------------------------------
split: venv                   ## every service as its own processes behind nginx on http://127.0.0.1:8080 (scripts/split-local)
	scripts/split-local start
split-stop:
	scripts/split-local stop
validate-deploy: venv nginx   ## docker/ and k8s/ checked offline (tests/deploy): Kubernetes schemas, compose spec, wiring
	$(VENV)/bin/pytest -q tests/deploy
nginx:                        ## nginx for the split's gateway (apt-get, once)
	scripts/split-local nginx
trace-backend: venv           ## Zipkin (Maven Central) + an OpenTelemetry Collector (go build), once, into .cache/trace/
	$(PY) -m devtools.tracing build

# --- shape 3 in containers: docker/compose.yaml (scripts/compose-local) -----------------------------
compose-up:                   ## build what is missing, docker/.env if none, start, wait until healthy: http://127.0.0.1:8080
	scripts/compose-local up
compose-down:                 ## stop and remove the containers; the volumes (data) stay
	scripts/compose-local down
compose-reset:                ## stop and remove the containers and the volumes
	scripts/compose-local reset
compose-test: venv            ## the container suite: a fresh copy of the deployment of its own, driven, removed
	scripts/compose-local engine
	$(VENV)/bin/pytest -q -m containers tests/containers
