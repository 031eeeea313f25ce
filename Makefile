# `make demo` and `make test` are the two commands a newcomer needs: both set up .venv
# themselves from requirements-dev.txt on any machine with Python 3.11+.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0
SAM_VERSION := 1.170.0
ASL_VALIDATOR_VERSION := 4.0.0

.PHONY: help venv demo test lint typecheck imports cfn-lint sam-validate asl-validate unit bench clean

help:
	@echo "make demo   - simulate both accounts on moto and run the pipeline end to end"
	@echo "make test   - ruff, mypy, cfn-lint, template checks and every pytest suite"
	@echo "make bench  - measure run time, API calls and state transitions (cost)"
	@echo "make sam-validate - sam validate --lint (aws-sam-cli in its own .sam-venv)"

$(STAMP): requirements-dev.txt functions/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PYTHONPATH=functions:. $(BIN)/python -m simulation.demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The functions run on the Lambda runtime template.yaml names (python3.13): check them for it too.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --python-version 3.13 functions

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml other/backup-account/*.yaml

sam-validate: .sam-venv/.installed
	.sam-venv/bin/sam validate --lint --region $(AWS_DEFAULT_REGION) --template template.yaml
	.sam-venv/bin/sam validate --lint --region $(AWS_DEFAULT_REGION) --template other/backup-account/backup-account.yaml

# aws-sam-cli pins its own cfn-lint and translator: it gets a venv of its own.
.sam-venv/.installed:
	test -x .sam-venv/bin/python || $(PYTHON) -m venv .sam-venv
	.sam-venv/bin/python -m pip install --quiet --upgrade pip
	.sam-venv/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)
	touch $@

asl-validate: .tools/node_modules/.bin/asl-validator
	.tools/node_modules/.bin/asl-validator --json-path state-machine/copy-snapshot.asl.json

.tools/node_modules/.bin/asl-validator:
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed for the ASL validator"; exit 1; }
	npm install --silent --no-save --no-audit --no-fund --prefix .tools asl-validator@$(ASL_VALIDATOR_VERSION)

# The floors of functions/rds_xacct: import-linter's contracts in pyproject.toml.
imports: $(STAMP)
	cd functions && ../$(BIN)/lint-imports --config ../pyproject.toml --no-cache

unit: $(STAMP)
	$(BIN)/pytest -n 2

test: lint typecheck imports cfn-lint sam-validate asl-validate unit

bench: $(STAMP)
	PYTHONPATH=functions:. $(BIN)/python -m simulation.bench $(ARGS)

clean:
	rm -rf $(VENV) .sam-venv .tools .aws-sam .pytest_cache .mypy_cache .ruff_cache

# The ASL's retriers (state-machine/copy-snapshot.asl.json, from copy-snapshot.source.json) and
# the troubleshooting table of docs/operations.md, written from the error table and the retry
# policies (functions/rds_xacct/model/error_table.py, retry_policy.py).
.PHONY: asl
asl: $(STAMP)
	PYTHONPATH=functions $(BIN)/python -m rds_xacct.model.generate
