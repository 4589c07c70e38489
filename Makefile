# boxoffice: `make run` starts the whole system, `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
SERVICES := inventory reservations notifications

reconcile: $(VENV)/.synced
	$(PY) -m boxoffice.ops reconcile \
		--inventory-db sqlite+aiosqlite:///$(CURDIR)/.data/inventory.db \
		--reservations-db sqlite+aiosqlite:///$(CURDIR)/.data/reservations.db \
		--notifications-db sqlite+aiosqlite:///$(CURDIR)/.data/notifications.db

.PHONY: reconcile run test lint typecheck pytest schemas asyncapi token migration bench bench-quick bench-relay bench-profile bench-micro clean help

help:
	@echo "make run      start broker, mail sink and the three services (SQLite, .data/)"
	@echo "make test     lint, type-check and run every test (real broker + PostgreSQL)"
	@echo "make bench    throughput, latency, contention, bulk, expiry, email (PostgreSQL + SQLite)"
	@echo "make bench-quick  the same, small numbers (about a minute)"
	@echo "make bench-relay  outbox relay lag (commit -> consumer), SQLite and PostgreSQL"
	@echo "make bench-profile  CPU per create of every process, stage latencies (PROFILE_ARGS=--help)"
	@echo "make bench-micro  CPU of the reservations hot path in one process"
	@echo "make reconcile  check inventory and reservations agree (the stack of make run)"
	@echo "make schemas  re-export the message JSON Schemas into libs/contracts/schemas/"
	@echo "make asyncapi re-export docs/asyncapi/<service>.json"
	@echo "make token ORG=demo  mint a backoffice token (secret: BOXOFFICE_JWT_SECRET or .data/dev-secret)"

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml) | $(UV)
	$(UV) sync --frozen --all-packages
	@touch $@

run: $(VENV)/.synced
	$(PY) -m boxoffice.devstack run --data-dir .data

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy libs/contracts/src libs/chassis/src libs/devstack/src libs/ops/src \
		$(foreach s,$(SERVICES),services/$(s)/src) \
		libs/contracts/tests libs/chassis/tests libs/devstack/tests libs/ops/tests \
		$(foreach s,$(SERVICES),services/$(s)/tests) tests bench

# axe-core (pinned in package-lock.json) for the backoffice's accessibility checks.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

pytest: $(VENV)/.synced node_modules/.package-lock.json
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(VENV)/.synced
	$(PY) -m bench.run

bench-quick: $(VENV)/.synced
	$(PY) -m bench.run --quick

bench-relay: $(VENV)/.synced
	$(PY) -m bench.relay_lag

bench-profile: $(VENV)/.synced
	$(PY) -m bench.profile $(PROFILE_ARGS)

bench-micro: $(VENV)/.synced
	$(PY) -m bench.micro

schemas: $(VENV)/.synced
	$(PY) -m boxoffice.contracts.export

asyncapi: $(VENV)/.synced
	$(PY) -m boxoffice.chassis.asyncapi

token: $(VENV)/.synced
	$(PY) -m boxoffice.ops token --org $(or $(ORG),demo)

migration: $(VENV)/.synced
	@test -n "$(SERVICE)" -a -n "$(MSG)" || (echo "usage: make migration SERVICE=inventory MSG='add x'"; exit 2)
	$(PY) tools/new_migration.py $(SERVICE) "$(MSG)"

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache node_modules test-artifacts
