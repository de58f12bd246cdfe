# triggerapp: `make demo` runs it on embedded defaults; `make test` runs the whole suite on PostgreSQL + Redis.
PYTHON := $(shell bin/find-python)
VENV := .venv
PY := $(VENV)/bin/python
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: demo test install install-dev services lint format migrations-check run-tests run-tests-sqlite bench

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	bin/demo

services:
	bin/ensure-services

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: install-dev
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) manage.py makemigrations --check --dry-run

run-tests:
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(VENV)/bin/pytest $(PYTEST_ARGS)

# The zero-setup run (make demo) stores on SQLite, where ingest takes the ORM path instead of PostgreSQL's
# array and COPY statements: the tracking and contacts tests run there too (pytest-django tests SQLite in memory).
SQLITE_TESTS = tests/sequences/test_tracking_api.py tests/sequences/test_tracking_hostile_input.py tests/sequences/test_intent_timeline.py tests/sequences/test_tracking_queue.py tests/sequences/test_bulk_sql.py tests/sequences/test_contacts_api.py tests/sequences/test_scoring_api_and_pages.py
run-tests-sqlite:
	DATABASE_URL=sqlite:///$(CURDIR)/.run/test-sqlite.sqlite3 CELERY_BROKER_URL=$(TEST_BROKER_URL) $(VENV)/bin/pytest -q $(SQLITE_TESTS)

test: install-dev services
	bin/ensure-chromium
	$(MAKE) lint migrations-check run-tests run-tests-sqlite

bench: install-dev services
	$(PY) bench/ingest.py
