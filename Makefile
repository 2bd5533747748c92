# airflow-provider-amznetsuite — every target creates .venv and installs what it needs itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export AIRFLOW__CORE__LOAD_EXAMPLES ?= False

.PHONY: help install test test-fast test-slow e2e demo airflow bench sandbox validate clean

help:
	@echo "make demo     - create .venv, install, run all five syncs for UK, DE, US against the sandboxes"
	@echo "make test     - create .venv, install dev deps, run the whole test suite"
	@echo "make airflow  - airflow standalone + sandboxes + example config (UI on :8080)"
	@echo "make bench    - benchmarks -> bench/results.json and bench/RESULTS.md"
	@echo "make sandbox  - serve both sandboxes on 127.0.0.1:8701 (SP-API) and :8702 (NetSuite)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -m "not slow and not e2e" -q

test-slow: $(STAMP)
	$(BIN)/pytest -m "slow" -q

e2e: $(STAMP)
	$(BIN)/pytest -m "e2e" -q -p no:cacheprovider tests/e2e

validate: $(STAMP)
	$(BIN)/amznetsuite config validate dags/marketplaces.yaml

demo: $(STAMP)
	$(BIN)/amznetsuite demo

sandbox: $(STAMP)
	$(BIN)/amznetsuite sandbox serve --print-connections

airflow: $(STAMP)
	$(BIN)/amznetsuite airflow

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]" || true
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .airflow build *.egg-info .pytest_cache
