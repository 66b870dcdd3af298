# Triage — every install step lives here, so a fresh clone needs only Python 3.11+ and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_FILES := $(shell find protos -name '*.proto' | sort)
GEN_DIRS := $(sort $(patsubst protos/%/,%,$(dir $(PROTO_FILES))))

.PHONY: help install gen gen-check lint typecheck buf test unit integration e2e run bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install everything (pinned)

gen: $(STAMP) ## Regenerate the Python code from protos/
	rm -rf $(GEN_DIRS)
	PATH=$(abspath $(BIN)):$$PATH $(PY) -m grpc_tools.protoc -Iprotos \
	  --python_out=. --mypy_out=. --grpc_python_out=. --mypy_grpc_out=. $(PROTO_FILES)
	for d in $(GEN_DIRS) $(sort $(foreach d,$(GEN_DIRS),$(patsubst %/,%,$(dir $(d))))); do touch $$d/__init__.py; done

gen-check: $(STAMP) ## Fail if the committed generated code differs from a fresh generation
	@tmp=$$(mktemp -d); \
	PATH=$(abspath $(BIN)):$$PATH $(PY) -m grpc_tools.protoc -Iprotos --python_out=$$tmp --mypy_out=$$tmp \
	  --grpc_python_out=$$tmp --mypy_grpc_out=$$tmp $(PROTO_FILES) && \
	for d in $(GEN_DIRS); do \
	  diff -r -x __init__.py -x __pycache__ $$tmp/$$d $$d || { echo "generated code in $$d is stale: run 'make gen'"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated code is current"

buf: $(STAMP) ## buf lint (STANDARD + COMMENTS, zero exceptions)
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy triage services tests bench

unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/pytest tests/integration -q

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e -q

test: lint typecheck buf gen-check ## Everything CI runs: lint, types, contracts, unit, integration, e2e
	$(BIN)/pytest -q -p no:cacheprovider

run: $(STAMP) ## Start PostgreSQL, NATS and the whole mesh, seed a demo tenant
	$(PY) -m triage.devstack run

bench: $(STAMP) ## Throughput and latency, printed as ratios against a floor measured in the same run
	$(PY) -m bench

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) .data build *.egg-info
