# Triage — every install step lives here, so a fresh clone needs only Python 3.11+ and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTO_FILES := $(shell find protos -name '*.proto' | sort)
GEN_DIRS := $(sort $(patsubst protos/%/,%,$(dir $(PROTO_FILES))))
# Imported protos that no registry we reach serves as source, vendored into git-ignored third_party/.
VALIDATE_PROTO := third_party/buf/validate/validate.proto
VENDOR_GEN_DIRS := buf/validate
PROTOC := PATH=$(abspath $(BIN)):$$PATH $(PY) -m grpc_tools.protoc -Iprotos -Ithird_party

.PHONY: help install third_party gen gen-check lint typecheck buf test unit integration e2e run bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install everything (pinned)

$(VALIDATE_PROTO): $(STAMP) tools/descriptor_to_proto.py
	$(PY) tools/descriptor_to_proto.py third_party

third_party: $(VALIDATE_PROTO) ## Vendor buf/validate/validate.proto from the pinned protovalidate wheel

gen: $(STAMP) $(VALIDATE_PROTO) ## Regenerate the Python code from protos/ (and the vendored protos they import)
	rm -rf $(GEN_DIRS) $(VENDOR_GEN_DIRS)
	$(PROTOC) --python_out=. --mypy_out=. --grpc_python_out=. --mypy_grpc_out=. $(PROTO_FILES)
	$(PROTOC) --python_out=. --mypy_out=. $(VALIDATE_PROTO)
	for d in $(GEN_DIRS) $(VENDOR_GEN_DIRS) $(sort $(foreach d,$(GEN_DIRS) $(VENDOR_GEN_DIRS),$(patsubst %/,%,$(dir $(d))))); do touch $$d/__init__.py; done

gen-check: $(STAMP) $(VALIDATE_PROTO) ## Fail if the committed generated code differs from a fresh generation
	@tmp=$$(mktemp -d); \
	$(PROTOC) --python_out=$$tmp --mypy_out=$$tmp --grpc_python_out=$$tmp --mypy_grpc_out=$$tmp $(PROTO_FILES) && \
	$(PROTOC) --python_out=$$tmp --mypy_out=$$tmp $(VALIDATE_PROTO) && \
	for d in $(GEN_DIRS) $(VENDOR_GEN_DIRS); do \
	  diff -r -x __init__.py -x __pycache__ $$tmp/$$d $$d || { echo "generated code in $$d is stale: run 'make gen'"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated code is current"

buf: $(STAMP) $(VALIDATE_PROTO) ## buf lint (STANDARD + COMMENTS, zero exceptions in protos/) and buf format
	$(BIN)/buf lint
	$(BIN)/buf format --diff --exit-code --exclude-path third_party/buf

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy triage services tests bench tools

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
	rm -rf $(VENV) .data build *.egg-info third_party
