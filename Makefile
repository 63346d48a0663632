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

pytest: $(VENV)/.installed
	$(BIN)/python -m pytest

bench: $(VENV)/.installed  ## side-by-side load benchmark (needs wrk); see loadtest/README.md
	$(BIN)/python loadtest/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
