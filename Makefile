# supportbot developer commands. Every target sets up what it needs (virtualenv, packages,
# control-plane binaries, Redis/PostgreSQL) on first use.
#   make demo   - the main job (local platform + tenants + simulators; see README)
#   make test   - everything CI runs: lint, format check, type check, all tests

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help setup test check unit e2e coverage lint format type-check cluster cluster-api \
        controlplane-binaries images sbom-tool demo dev migrate seed reset loadtest faults clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 24

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need Python >= 3.11 as $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

setup: $(STAMP) ## create .venv and install the project with dev tools

test: $(STAMP) ## lint + format check + mypy --strict + the whole test suite (what CI runs)
	bash hack/test.sh

check: lint type-check ## static checks only

unit: $(STAMP) ## tests that need no cluster (Redis/PostgreSQL still real)
	$(PY) -m pytest -m "not cluster and not fullcluster" $(ARGS)

e2e: $(STAMP) ## tests against the local control plane
	$(PY) -m pytest -m "cluster or fullcluster" $(ARGS)

coverage: $(STAMP) ## whole suite under coverage (incl. subprocesses); fails if a package is < 90 %
	bash hack/coverage.sh $(ARGS)

lint: $(STAMP) ## ruff lint + format check + import contracts (lint-imports)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP) ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

type-check: $(STAMP) ## mypy --strict on bot, operator, hack and tests
	$(VENV)/bin/mypy

controlplane-binaries: ## build/cached kube-apiserver, controller-manager, scheduler, kubectl, etcd, helm, kwok
	bash hack/build-controlplane.sh

images: $(STAMP) ## build the bot and operator images with podman (cached; prints sizes and times)
	bash hack/build-images.sh $(ARGS)

sbom-tool: $(STAMP) ## build syft (SBOMs of the images) from the Go module proxy, then make images
	bash hack/build-images.sh --sbom-tool $(ARGS)

cluster: $(STAMP) ## run the full local platform (control plane + KWOK + Redis + PostgreSQL) until Ctrl-C
	$(PY) -m supportbot_dev.platform $(ARGS)

cluster-api: $(STAMP) ## API-only control plane until Ctrl-C
	$(PY) -m supportbot_dev.platform --api-only --no-services

demo: $(STAMP) ## the main job: see README
	$(PY) -m supportbot_dev.demo $(ARGS)

migrate: $(STAMP) ## apply database migrations to $$DATABASE_URL
	$(VENV)/bin/supportbot migrate $(ARGS)

seed: $(STAMP) ## load demo data into $$DATABASE_URL
	$(VENV)/bin/supportbot storage seed $(ARGS)

reset: $(STAMP) ## drop and re-create the schema in $$DATABASE_URL
	$(VENV)/bin/supportbot storage reset --yes $(ARGS)

loadtest: $(STAMP) ## 1,000-customer load test with baselines; report in loadtests/results/
	$(PY) loadtests/run.py --scenario loadtests/scenarios/default.yaml $(ARGS)

faults: $(STAMP) ## fault suite (PostgreSQL/Redis/MSG91/worker faults); ARGS=--short for ~5 min
	$(PY) loadtests/faults.py $(ARGS)

clean: ## remove the virtualenv and caches (not the control-plane binaries)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .local
