# Anagen: `make demo` runs the app with demo data, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(shell scripts/find-python)
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for `make test` (the suite is parallel-safe: one test database per
# worker); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2

.PHONY: demo test lint lock install install-dev serve benchmarks screenshots clean

$(BIN)/python:
	@test -n "$(PYTHON)" || exit 1
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements/lock.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements/lock-dev.txt
	$(BIN)/pip install --quiet -r requirements/lock-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	mkdir -p var
	$(BIN)/anagen migrate --noinput
	$(BIN)/anagen load_demo --url http://$(HOST):$(PORT)
	ANAGEN_DEBUG=1 ANAGEN_HTTPS=0 $(BIN)/anagen runserver $(HOST):$(PORT)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src/anagen

# SQLite first, then PostgreSQL when a server answers (or ANAGEN_TEST_POSTGRES_URL is set).
test: $(VENV)/.installed-dev
	@scripts/ensure-chromium
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src/anagen
	@rm -f var/test-postgres.ok
	@mkdir -p var
	DATABASE_URL=sqlite:///var/test.sqlite3 $(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS)
	@url=$$(scripts/postgres-url); \
	if [ -n "$$url" ]; then \
	  echo "=== PostgreSQL run ($$url) ==="; \
	  DATABASE_URL="$$url" $(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) $(PYTEST_ARGS) && touch var/test-postgres.ok; \
	else \
	  echo "No PostgreSQL server answered on 127.0.0.1:5432: PostgreSQL run skipped."; \
	fi

# Re-render the pages the documentation shows (docs/screenshots/) from the browser tests;
# a plain test run writes them under var/screenshots/.
screenshots: $(VENV)/.installed-dev
	@scripts/ensure-chromium
	@mkdir -p var
	DATABASE_URL=sqlite:///var/test.sqlite3 ANAGEN_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots \
	  $(BIN)/pytest -p no:cacheprovider -n $(PYTEST_WORKERS) tests/browser

benchmarks: $(VENV)/.installed-dev
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Regenerate the locks from pyproject.toml in throw-away environments.
lock:
	rm -rf /tmp/anagen-lock && $(PYTHON) -m venv /tmp/anagen-lock && /tmp/anagen-lock/bin/pip install -q --upgrade pip
	/tmp/anagen-lock/bin/pip install -q .
	/tmp/anagen-lock/bin/pip freeze --exclude anagen > requirements/lock.txt
	/tmp/anagen-lock/bin/pip install -q '.[dev]'
	/tmp/anagen-lock/bin/pip freeze --exclude anagen > requirements/lock-dev.txt

clean:
	rm -rf $(VENV) var/test.sqlite3
