# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
WEB_CONCURRENCY ?= 2
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
TEST_ENV := $(BIN)/python -m tests.environment
# make serve's environment. Its gunicorn workers must share the rate limiter's
# cache: the database cache unless CACHE_URL names another (redis://… for
# several hosts). tests/test_ratelimit_processes.py runs processes with it.
SERVE_ENV = DJANGO_DEBUG=0 CACHE_URL=$${CACHE_URL:-db://}

.PHONY: run user serve test lint typecheck pytest bench clean help

help:
	@echo "make run    - development server on http://$(HOST):$(PORT)/ (creates .venv, keys, database)"
	@echo "make user   - create a user who may do everything (the first one, say)"
	@echo "make test   - lint, type-check and run every test"
	@echo "make serve  - production-style: gunicorn + whitenoise, DEBUG off, CACHE_URL=db:// unless set (needs keys)"
	@echo "make bench  - benchmarks under bench/ (ratios against a baseline in the same run)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py createcachetable
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py devserver $(HOST):$(PORT)

# The development settings, as `make run` uses them: the same database and keys.
user: $(RUN_STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py migrate --noinput --verbosity 0
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py createsuperuser

serve: $(RUN_STAMP)
	$(SERVE_ENV) $(BIN)/python manage.py check --deploy --database default --fail-level ERROR
	$(SERVE_ENV) $(BIN)/python manage.py migrate --noinput
	$(SERVE_ENV) $(BIN)/python manage.py createcachetable
	$(SERVE_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(SERVE_ENV) $(BIN)/gunicorn okendo_site.wsgi --bind $(HOST):$(PORT) --workers $(WEB_CONCURRENCY) --access-logfile -

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(TEST_ENV) $(BIN)/mypy .

pytest: $(DEV_STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(DEV_STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var/staticfiles .pytest_cache .mypy_cache .ruff_cache artifacts
