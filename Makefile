# The two commands of the README:
#   make run    set up everything, migrate, load the demo network if empty, serve on :8000
#   make test   set up everything and run the test suite (SQLite; see .ci/run for PostgreSQL)

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .uv/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint bench-redirect bench-postback bench-reports clean

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet uv==$(UV_VERSION)

# The environment follows uv.lock exactly (--frozen: never re-resolve, never upgrade).
# Bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on CI machines)
# Python would otherwise compile every module from source in every process, ~8 s of CPU for
# each server worker and test server start.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

# Our own sources change between runs: compiled before each (only what changed is redone).
BYTECODE := $(VENV)/bin/python -m compileall -q -j 0 src

# Front-end assets (htmx) from the npm registry, pinned and verified (assets.lock.json).
ASSETS := src/alliance/web/static/vendor/.versions.json
$(ASSETS): assets.lock.json tools/fetch_assets.py
	$(PYTHON) tools/fetch_assets.py

run: $(VENV)/.synced $(ASSETS)
	$(BYTECODE)
	$(VENV)/bin/alliance migrate
	$(VENV)/bin/alliance demo --if-empty
	$(VENV)/bin/alliance serve

test: $(VENV)/.synced $(ASSETS)
	$(BYTECODE)
	$(VENV)/bin/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/ruff format --check src tests bench tools
	$(VENV)/bin/mypy

bench-redirect: $(VENV)/.synced
	$(VENV)/bin/python bench/redirect.py

bench-postback: $(VENV)/.synced
	$(VENV)/bin/python bench/postback.py

# 10 million clicks and 200,000 orders: BENCH_ARGS="--db postgresql" or "--clicks 1000000".
bench-reports: $(VENV)/.synced
	$(VENV)/bin/python bench/reports.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .uv var src/alliance/web/static/vendor
