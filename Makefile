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
UV_VERSION := 0.13.9
# uv installs the venvs (a fresh clone's in seconds, where pip takes half a minute each): the uv on
# PATH, else the pinned one pip brings into .tools/uv once. Without either, scripts/venv-install
# uses pip.
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/uv/bin/uv)
# `make test` runs its checks side by side, each one's output printed whole when it ends (make 4+;
# make 3.81, macOS's, runs them one after the other, as TEST_JOBS=1 does, with output as it comes).
# 3 jobs keep 2 cores busy beside pytest -n 2.
TEST_JOBS ?= 3

.PHONY: help venv demo test checks lint typecheck imports cfn-lint sam-validate asl-validate unit bench clean

help:
	@echo "make demo   - simulate both accounts on moto and run the pipeline end to end"
	@echo "make test   - ruff, mypy, cfn-lint, template checks and every pytest suite"
	@echo "make bench  - measure run time, API calls and state transitions (cost)"
	@echo "make sam-validate - sam validate --lint (aws-sam-cli in its own .sam-venv)"

# pip comes along so that `.venv/bin/pip` works as in any venv (uv makes venvs without it).
$(STAMP): requirements-dev.txt functions/requirements.txt | $(UV)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	UV=$(UV) PYTHON=$(PYTHON) scripts/venv-install $(VENV) -r requirements-dev.txt pip
	touch $(STAMP)

.tools/uv/bin/uv:
	@out=$$(PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --disable-pip-version-check --no-deps --only-binary :all: --target .tools/uv uv==$(UV_VERSION) 2>&1) \
	  || { echo "$$out" | tail -n 5; echo "uv $(UV_VERSION) could not be installed: pip will install the packages instead (slower)"; }

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
.sam-venv/.installed: | $(UV)
	UV=$(UV) PYTHON=$(PYTHON) scripts/venv-install .sam-venv aws-sam-cli==$(SAM_VERSION)
	touch $@

asl-validate: .tools/node_modules/.bin/asl-validator
	.tools/node_modules/.bin/asl-validator --json-path state-machine/copy-snapshot.asl.json

.tools/node_modules/.bin/asl-validator:
	@command -v npm >/dev/null || { echo "npm (Node.js) is needed for the ASL validator"; exit 1; }
	npm install --silent --no-save --no-audit --no-fund --prefix .tools asl-validator@$(ASL_VALIDATOR_VERSION)

# The floors of functions/rds_xacct, and the operator command above them: import-linter's
# contracts in pyproject.toml.
imports: $(STAMP)
	PYTHONPATH=functions:. $(BIN)/lint-imports --config pyproject.toml --no-cache

# (aws-sam-cli first: a test builds the backup-account template with it)
unit: $(STAMP) .sam-venv/.installed
	$(BIN)/pytest -n 2

# pytest first: it is the longest, and the other checks fit beside it.
CHECKS := unit typecheck imports sam-validate cfn-lint lint asl-validate
PARALLEL := $(if $(filter 3.%,$(MAKE_VERSION)),,$(if $(filter-out 1,$(TEST_JOBS)),-j$(TEST_JOBS) --output-sync=target))

test:
	@echo "make test: $(CHECKS)$(if $(PARALLEL), side by side: each one's output shows when it ends)"
	@$(MAKE) --no-print-directory $(PARALLEL) --keep-going checks \
	  || { echo "make test: FAILED: the 'Error' lines above name the checks that failed"; exit 1; }

checks: $(CHECKS)

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
