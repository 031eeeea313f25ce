# `make demo` and `make test` are the two commands a newcomer needs: both set up .venv
# themselves from requirements-dev.txt on any machine with Python 3.11+.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= eu-west-1

.PHONY: help venv demo test lint typecheck cfn-lint unit e2e bench sam-validate clean

help:
	@echo "make demo   - simulate both accounts on moto and run the pipeline end to end"
	@echo "make test   - ruff, mypy, cfn-lint, template checks and every pytest suite"
	@echo "make bench  - measure run time, API calls and state transitions (cost)"
	@echo "make sam-validate - sam validate --lint (installs aws-sam-cli in .sam-venv)"

$(STAMP): requirements-dev.txt functions/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PYTHONPATH=functions:. $(BIN)/python -m tests.support.demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml other/backup-account/*.yaml

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck cfn-lint unit

bench: $(STAMP)
	PYTHONPATH=functions:. $(BIN)/python -m tests.support.bench $(ARGS)

sam-validate:
	test -x .sam-venv/bin/sam || { $(PYTHON) -m venv .sam-venv && .sam-venv/bin/pip install --quiet aws-sam-cli; }
	.sam-venv/bin/sam validate --lint --region $(AWS_DEFAULT_REGION)

clean:
	rm -rf $(VENV) .sam-venv .aws-sam .pytest_cache .mypy_cache .ruff_cache
