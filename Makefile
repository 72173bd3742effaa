# Neon — `make help` lists the targets. `make up` runs Neon; `make test` sets up and runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV := $(PYTHON) -m uv
export UV_PYTHON_DOWNLOADS := never
VENV_STAMP := .venv/.neon-synced
LOCK_INPUTS := uv.lock pyproject.toml sdk/pyproject.toml server/pyproject.toml native/pyproject.toml \
	$(wildcard native/src/neon_native/*.c native/src/neon_native/*.h)

UI_DIST := server/src/neon_server/ui/dist/index.html
WEB_DEPS := web/node_modules/.package-lock.json
WEB_SOURCES := $(shell find web/src web/public -type f ! -name schema.d.ts 2>/dev/null) web/index.html \
	web/vite.config.ts web/tsconfig.json web/tsconfig.app.json web/tsconfig.node.json web/package.json
API_SOURCES := $(shell find server/src/neon_server/api -name '*.py' 2>/dev/null) server/src/neon_server/app.py

.PHONY: help setup up ui test test-fast lint typecheck system-deps bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-11s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV_STAMP): $(LOCK_INPUTS)
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@command -v cc >/dev/null 2>&1 || { echo "a C compiler is needed to build native/ (neon-native): install gcc" >&2; exit 1; }
	$(UV) sync --all-packages --locked
	@touch $@

setup: $(VENV_STAMP) ## install Python packages into .venv (bootstraps uv with pip if missing)

up: setup ui ## set up and start Neon on its embedded defaults (chDB + SQLite + Temporal under ~/.neon; agents from examples/agents)
	NEON_AGENTS_PATH=$${NEON_AGENTS_PATH:-examples/agents} $(UV) run --no-sync neon up

$(WEB_DEPS): web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web/openapi.json: $(API_SOURCES) | $(VENV_STAMP)
	$(UV) run --no-sync python -m neon_server.app > $@.tmp && mv $@.tmp $@

$(UI_DIST): $(WEB_SOURCES) web/openapi.json $(WEB_DEPS)
	cd web && npm run --silent build

ui: setup $(UI_DIST) ## build the web UI (Node.js 20+) when its sources or the API changed

system-deps: ## install the system packages the tests use (PostgreSQL server) when missing
	@bash scripts/system-deps.sh

lint: setup ## ruff
	$(UV) run --no-sync ruff check .

typecheck: setup ## mypy, strict
	$(UV) run --no-sync mypy

test: setup system-deps ui lint typecheck ## set up, then lint, type-check and run every test (browser tests too)
	$(UV) run --no-sync pytest

test-fast: setup ## run the tests not marked slow
	$(UV) run --no-sync pytest -m "not slow"

clean: ## remove the virtualenv and caches
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache web/node_modules server/src/neon_server/ui/dist
