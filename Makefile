# Two commands: `make run` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck lock lock-spark clean-db venv

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Riskdesk needs Python 3.11 or newer on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/riskdesk up

# loadgroup: tests of one xdist_group (the Spark ones) share a worker, so one JVM starts.
test: $(STAMP)
	$(BIN)/python -m ruff check src tests bench
	$(BIN)/python -m mypy src
	$(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider $(PYTEST_ARGS)

# Re-pin the lock file after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes -q -o requirements.lock

# The `spark` extra (pyspark, pyarrow) in a lock of its own, at the main lock's versions of
# anything shared: `make venv` stays without it; CI installs it on top.
lock-spark: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['spark']))" \
		| $(BIN)/uv pip compile - -c requirements.lock --universal --python-version 3.11 \
		--generate-hashes -q -o requirements-spark.lock

clean-db:
	rm -rf var/riskdesk.db var/riskdesk.db-wal var/riskdesk.db-shm
