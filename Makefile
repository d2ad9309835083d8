# Every target works on a fresh machine with only Python 3.11+ and make.
# The virtual environment is built once from the lock files and reused: requirements.lock
# holds what atoll runs with (every extra, and the build backend of its editable install),
# requirements-dev.lock the same pins and the development tools on top. `make demo` installs
# the first alone; the targets that check the code install the second.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP  := $(VENV)/.installed
DEMO_PATH := examples/runnerly
PIP_VERSION := 25.3

.DEFAULT_GOAL := help
.PHONY: help runtime install browser test lint typecheck contracts pytest demo demo-fleet bench lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# pip is brought to a known release first: pip before 23.3 refuses a hash-locked requirement
# that another asks for with an extra (pytest-cov wants coverage[toml]) once a newer release
# of it is published.
$(RUNTIME): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==$(PIP_VERSION)"
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME) requirements-dev.lock
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $(STAMP)

runtime: $(RUNTIME)  ## create .venv with what atoll runs with (atoll[all], editable)

install: $(STAMP)  ## the same, and the development tools (atoll[all,dev])

lint: $(STAMP)  ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)  ## mypy --strict on src/ and typing_tests/
	$(BIN)/mypy src typing_tests

contracts: $(STAMP)  ## import-linter: the layer rules
	PYTHONPATH=$(DEMO_PATH) $(BIN)/lint-imports

# The frontends' tests drive Debian's Chromium (tests/frontends/): installed here when missing
# and the machine lets us (root, apt-get); elsewhere those tests say how to install it.
browser:  ## install Debian's Chromium for the browser tests, when it is missing
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Chromium (apt-get install chromium) for the browser tests"; \
	    apt-get install -y -q chromium >/dev/null || \
	      { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else \
	    echo "Chromium is missing: the browser tests need it (apt-get install chromium)"; \
	  fi; \
	fi

pytest: $(STAMP) browser  ## the test suite with branch coverage (gate: 95%)
	PYTHONPATH=$(DEMO_PATH) $(BIN)/pytest --cov --cov-report=term-missing:skip-covered --durations=30 $(PYTEST_ARGS)

test: lint typecheck contracts pytest  ## every gate: lint, types, layers, tests

demo: $(RUNTIME)  ## run the reference system on embedded defaults (Ctrl-C stops it)
	cd $(DEMO_PATH) && ../../$(BIN)/python -m runnerly

demo-fleet: $(RUNTIME)  ## run the reference system apart: a process per service, NATS and PostgreSQL
	cd $(DEMO_PATH) && ../../$(BIN)/python -m runnerly.fleet $(FLEET_ARGS)

bench: $(STAMP)  ## run every benchmark in benchmarks/ and print the tables
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# The development lock is resolved within the runtime one (-c): a package both hold has one pin.
LOCK_FLAGS := --quiet --build-deps-for editable --strip-extras --generate-hashes \
  --no-emit-index-url --no-emit-find-links --unsafe-package atoll
lock: $(STAMP)  ## re-resolve requirements.lock and requirements-dev.lock from pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra all -o requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra all --extra dev -c requirements.lock \
	  -o requirements-dev.lock pyproject.toml

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*
