# Trade Nexus: two commands on a fresh machine, `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SCAN_VENV := .venv-scan
SCAN_BIN := $(SCAN_VENV)/bin
SCAN_STAMP := $(SCAN_VENV)/.installed-stamp
PYTEST_ARGS ?=
# Two workers, one test file each at a time (module fixtures stay in one process), in the
# collection order (tests/conftest.py puts the end-to-end stack first), each with its share of
# the cores for native thread pools (torch, BLAS) so two trainings never oversubscribe them.
PYTEST_WORKERS ?= 2
TEST_THREADS := $(shell n=$$(( $$(nproc) / $(PYTEST_WORKERS) )); [ $$n -ge 1 ] && echo $$n || echo 1)

.PHONY: run stop test lint scan format bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The scanners get their own environment so their pins never touch the application's.
$(SCAN_STAMP): requirements-scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_BIN)/python -m pip install --quiet --upgrade pip
	$(SCAN_BIN)/python -m pip install --quiet -r requirements-scan.txt
	touch $(SCAN_STAMP)

## Scan the Dockerfile, the Azure templates and the workflows (checkov, hadolint, actionlint).
scan: $(SCAN_STAMP)
	PATH="$(CURDIR)/$(SCAN_BIN):$$PATH" bash infra/scan.sh

## Start the Dagster UI + daemon and the Lona stand-in, then materialize the graph.
run: install
	$(BIN)/nexus up

## Stop everything `make run` started.
stop:
	@if [ -x $(BIN)/nexus ]; then $(BIN)/nexus down; else echo "nothing to stop"; fi

## Lint, format check and the whole test suite (slow, e2e and browser tests included).
test: install scan
	@bash .ci/install-chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	OMP_NUM_THREADS=$(TEST_THREADS) OPENBLAS_NUM_THREADS=$(TEST_THREADS) MKL_NUM_THREADS=$(TEST_THREADS) \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Print the benchmark figures.
bench: install
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/volatility.py
	$(BIN)/python benchmarks/anomaly.py
	$(BIN)/python benchmarks/optimizer.py
	$(BIN)/python benchmarks/backtest.py
	$(BIN)/python benchmarks/serving.py --floor
	$(BIN)/python benchmarks/transports.py --nexus-tree .

clean:
	rm -rf .nexus .pytest_cache .ruff_cache
