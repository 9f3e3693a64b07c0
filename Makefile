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

.PHONY: help setup demo serve browser test bench lint lock build validate deploy clean

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

demo: $(STAMP) ## Provision, remove, report and the API end to end on the embedded local stack
	$(BIN)/python -m infra.local.demo

test: lint browser ## Lint, then run the whole test suite (unit, integration, end to end, template)
	$(BIN)/python -m pytest -q

serve: $(STAMP) ## The console on the embedded local stack: prints its URL and a sign-in; Ctrl-C stops it
	$(BIN)/python -m infra.local.serve

# --- the console's browser tests: Debian's Chromium (never a downloaded browser) and axe-core from npm ----------
CHROMIUM ?= /usr/bin/chromium
export ZOOMOPS_CHROMIUM := $(CHROMIUM)
AXE := node_modules/axe-core/axe.min.js

browser: $(AXE) ## Chromium (Debian's package, installed when missing) and axe-core for the browser tests
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "make browser: no Chromium at $(CHROMIUM). Install Debian's chromium as root (apt-get install chromium)," >&2; \
			echo "or point CHROMIUM= at a Chromium or Chrome binary." >&2; exit 1; \
		fi; \
	fi
	@"$(CHROMIUM)" --version >/dev/null 2>&1 || { echo "make browser: $(CHROMIUM) does not start" >&2; exit 1; }

# package-lock.json pins axe-core with its integrity hash; npm ci checks it. Nothing of npm runs in the console.
$(AXE): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make browser: npm is missing (it installs axe-core, the accessibility checker); install Node.js with npm" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(AXE)

bench: $(STAMP) ## Benchmarks; figures go to benchmarks/results/
	$(BIN)/python benchmarks/bench_disassociate.py
	$(BIN)/python benchmarks/bench_tokens.py
	$(BIN)/python benchmarks/bench_reports.py
	$(BIN)/python benchmarks/bench_provision.py
	$(BIN)/python benchmarks/bench_removal_map.py
	$(BIN)/python benchmarks/bench_coldstart.py

lint: $(STAMP) ## cfn-lint (with the SAM transform), ruff (lint and format check), mypy over the core
	$(BIN)/cfn-lint template.yaml
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/mypy

lock: $(STAMP) ## Re-lock transitive versions into constraints.txt
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

# --- real AWS (documented in the README; never run in CI) ---------------------------------
DEPLOY_VENV := .venv-deploy
SAM := $(DEPLOY_VENV)/bin/sam
$(DEPLOY_VENV)/.installed: requirements-deploy.txt
	@echo "==> setting up $(DEPLOY_VENV) (SAM CLI)"
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/python -m pip install --quiet --upgrade "pip==26.3"
	$(DEPLOY_VENV)/bin/python -m pip install --quiet -r requirements-deploy.txt
	touch $@

# SAM asks PyPI for a newer SAM CLI after any command unless it did so in the past week: record a check
# now, keeping the rest of its metadata.json (installationId and any settings).
define SAM_SEED_METADATA
import json, os, pathlib, time
path = pathlib.Path(os.environ.get("__SAM_CLI_APP_DIR") or pathlib.Path.home() / ".aws-sam") / "metadata.json"
try:
    data = json.loads(path.read_text())
except (OSError, ValueError):
    data = {}
data = data if isinstance(data, dict) else {}
data["lastVersionCheck"] = time.time()
path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
path.write_text(json.dumps(data, indent=4))
endef
export SAM_SEED_METADATA
SAM_OFFLINE := $(DEPLOY_VENV)/bin/python -c "$$SAM_SEED_METADATA"

# Every resource builds with BuildMethod makefile: layers/core/Makefile pip-installs the arm64 / CPython 3.11
# wheels for the layer (with this venv's pip), functions/Makefile copies each handler. No Docker, and no
# local Python 3.11 needed.
build: $(DEPLOY_VENV)/.installed ## sam build (no Docker: the layer is built with pip)
	@$(SAM_OFFLINE)
	BUILD_PYTHON="$(CURDIR)/$(DEPLOY_VENV)/bin/python" $(SAM) build --template-file template.yaml

validate: $(DEPLOY_VENV)/.installed ## sam validate --lint (offline, no credentials)
	@$(SAM_OFFLINE)
	$(SAM) validate --lint --template-file template.yaml --region us-east-1

deploy: build ## sam deploy (--guided the first time: it writes samconfig.toml)
	@$(SAM_OFFLINE)
	@if [ -f samconfig.toml ]; then $(SAM) deploy; else $(SAM) deploy --guided; fi

clean: ## Remove the venvs and build output
	rm -rf $(VENV) $(DEPLOY_VENV) .aws-sam
