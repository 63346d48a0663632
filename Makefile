# Set-up lives here so the README's two commands work on a fresh clone with only Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
WORKERS ?= 1

.PHONY: serve test lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

serve: $(VENV)/.installed  ## migrate the database, then serve on http://127.0.0.1:8000
	$(BIN)/quart-blog serve --bind $(BIND) --workers $(WORKERS)

test: lint typecheck pytest  ## everything CI runs

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy --strict quart_blog

# Both halves of the suite: the PostgreSQL and Redis tests join in when a local PostgreSQL
# with a database "test" (trust auth) and a local Redis answer, as they do in CI; otherwise
# one line says what was skipped and how to run it. TEST_DATABASE_URL / TEST_REDIS_URL set
# by the caller always win.
# One pytest-xdist worker per core: half of a test's time is spent waiting on a database,
# a live server or a browser. Each worker gets its own PostgreSQL database and Redis
# database (tests/conftest.py). PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto
LOCAL_PG_TEST_URL := postgresql+asyncpg://postgres@127.0.0.1:5432/test
LOCAL_REDIS_TEST_URL := redis://127.0.0.1:6379/15
pytest: $(VENV)/.installed
	@pg="$${TEST_DATABASE_URL:-}"; redis="$${TEST_REDIS_URL:-}"; \
	if [ -z "$$pg" ] && $(BIN)/python tests/backends.py postgresql "$(LOCAL_PG_TEST_URL)"; then pg="$(LOCAL_PG_TEST_URL)"; fi; \
	if [ -z "$$redis" ] && $(BIN)/python tests/backends.py redis "$(LOCAL_REDIS_TEST_URL)"; then redis="$(LOCAL_REDIS_TEST_URL)"; fi; \
	[ -n "$$pg" ] || echo "make test: no PostgreSQL at $(LOCAL_PG_TEST_URL): its half of the suite skips (set TEST_DATABASE_URL to run it)"; \
	[ -n "$$redis" ] || echo "make test: no Redis at $(LOCAL_REDIS_TEST_URL): its tests skip (set TEST_REDIS_URL to run them)"; \
	TEST_DATABASE_URL="$$pg" TEST_REDIS_URL="$$redis" $(BIN)/python -m pytest -n $(PYTEST_WORKERS)

bench: $(VENV)/.installed  ## side-by-side load benchmark (needs wrk); see loadtest/README.md
	$(BIN)/python loadtest/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
