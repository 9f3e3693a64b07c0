SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The venv is rebuilt whenever a requirements file changes.
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements-dev.txt constraints.txt layers/core/requirements.txt layers/core/pyproject.toml

# Nothing reaches beyond this machine: no SAM update checks or telemetry, no metadata service.
export SAM_CLI_TELEMETRY := 0
export AWS_EC2_METADATA_DISABLED := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup demo test bench lint lock build deploy clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): $(REQUIREMENTS)
	@echo "==> setting up $(VENV) (pinned requirements)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e layers/core
	touch $(STAMP)

setup: $(STAMP) ## Create .venv from the pinned requirements

demo: $(STAMP) ## Run bulk disassociate end to end on the embedded local stack
	$(BIN)/python -m infra.local.demo

test: $(STAMP) ## Run the whole test suite (unit, integration, end to end, template)
	$(BIN)/python -m pytest -q

bench: $(STAMP) ## Benchmarks; figures go to benchmarks/results/
	$(BIN)/python benchmarks/bench_disassociate.py
	$(BIN)/python benchmarks/bench_tokens.py
	$(BIN)/python benchmarks/bench_reports.py

lint: $(STAMP) ## cfn-lint the SAM template (with the SAM transform)
	$(BIN)/cfn-lint template.yaml

lock: $(STAMP) ## Re-lock transitive versions into constraints.txt
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

# --- real AWS (documented in the README; never run in CI) ---------------------------------
DEPLOY_VENV := .venv-deploy
$(DEPLOY_VENV)/.installed: requirements-deploy.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet -r requirements-deploy.txt
	touch $@

build: $(DEPLOY_VENV)/.installed ## sam build (no Docker: the layer is built with pip)
	$(DEPLOY_VENV)/bin/sam build --template-file template.yaml

deploy: build ## sam deploy (--guided the first time: it writes samconfig.toml)
	@if [ -f samconfig.toml ]; then $(DEPLOY_VENV)/bin/sam deploy; else $(DEPLOY_VENV)/bin/sam deploy --guided; fi

clean: ## Remove the venvs and build output
	rm -rf $(VENV) $(DEPLOY_VENV) .aws-sam
