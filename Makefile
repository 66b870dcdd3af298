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
.PHONY: image base-image image-lock image-test install-chromium

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

e2e: $(STAMP) install-chromium
	$(BIN)/pytest tests/e2e -q

# The console's browser tests drive Debian's chromium through Playwright (no browser
# download): install it with apt-get when missing (root in CI, else sudo).
install-chromium: ## Install Debian's chromium for the console's browser tests, if missing
	@command -v /usr/bin/chromium >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: lint typecheck buf gen-check install-chromium ## Everything CI runs: lint, types, contracts, unit, integration, e2e
	$(BIN)/pytest -q -p no:cacheprovider

run: $(STAMP) ## Start PostgreSQL, NATS and the whole mesh, seed a demo tenant
	$(PY) -m triage.devstack run

bench: $(STAMP) ## Throughput and latency, printed as ratios against a floor measured in the same run
	$(PY) -m bench

# --- Container image (Dockerfile; deploy/README.md) ---------------------------------------
# Ordinary hosts keep these defaults. A host without registry access or with special
# container limits sets IMAGE_HOST=sandbox (what .ci/run does), or the variables one by one.
IMAGE ?= ghcr.io/triage/triage
IMAGE_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_TAG ?= $(IMAGE_VERSION)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_SOURCE ?= https://github.com/triage/triage
# podman or buildah builds (`<builder> build`); podman runs the containers of image-test.
IMAGE_BUILDER ?= podman
CONTAINER_ENGINE ?= podman
# Built by `make base-image` (mmdebstrap + podman import) when BASE_IMAGE names it.
LOCAL_BASE_IMAGE ?= localhost/triage-base:bookworm
DEBIAN_MIRROR ?= http://deb.debian.org/debian
DEBIAN_SECURITY_MIRROR ?= http://deb.debian.org/debian-security
ifeq ($(IMAGE_HOST),sandbox)
# Measured on this CI/dev machine: crun fails on its hybrid cgroup hierarchy, the default
# rlimits cannot be raised, no image registry is reachable, and TLS goes through a CA
# that only the host's bundle trusts.
BASE_IMAGE ?= $(LOCAL_BASE_IMAGE)
CONTAINER_FLAGS ?= --runtime runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768
BUILD_CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
endif
BASE_IMAGE ?= docker.io/library/python:3.11-slim
# Extra flags for every container built or run (runtime, ulimits).
CONTAINER_FLAGS ?=
# A CA bundle on the host that pip inside the build must trust (mounted read-only).
BUILD_CA_BUNDLE ?=
IMAGE_BUILD_FLAGS = $(CONTAINER_FLAGS) --network host \
	--build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg VERSION=$(IMAGE_VERSION) \
	--build-arg REVISION=$(IMAGE_REVISION) --build-arg SOURCE=$(IMAGE_SOURCE) \
	$(if $(BUILD_CA_BUNDLE),--volume $(BUILD_CA_BUNDLE):/etc/ssl/certs/host-ca.crt:ro \
	--build-arg PIP_CERT=/etc/ssl/certs/host-ca.crt)

base-image: ## Local base image (Debian bookworm, Python 3.11) from mmdebstrap, no registry
	@if $(CONTAINER_ENGINE) image exists $(LOCAL_BASE_IMAGE); then \
	  echo "$(LOCAL_BASE_IMAGE) exists ($(CONTAINER_ENGINE) rmi it to rebuild)"; \
	else \
	  set -euo pipefail; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tzdata \
	    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	    --customize-hook='rm -rf "$$1"/var/lib/apt/lists/* "$$1"/var/cache/apt/*' \
	    bookworm "$$tmp/rootfs.tar" \
	    "deb $(DEBIAN_MIRROR) bookworm main" "deb $(DEBIAN_MIRROR) bookworm-updates main" \
	    "deb $(DEBIAN_SECURITY_MIRROR) bookworm-security main"; \
	  $(CONTAINER_ENGINE) import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
	    "$$tmp/rootfs.tar" $(LOCAL_BASE_IMAGE); \
	fi

image: $(if $(filter $(LOCAL_BASE_IMAGE),$(BASE_IMAGE)),base-image) ## Build the container image, $$IMAGE:$$IMAGE_TAG (podman or buildah)
	$(IMAGE_BUILDER) build $(IMAGE_BUILD_FLAGS) --tag $(IMAGE):$(IMAGE_TAG) --file Dockerfile .

image-lock: $(STAMP) ## Pin the image's runtime dependency tree to this venv (deploy/image/constraints.txt)
	$(PY) -m tests.image.lock

image-test: $(STAMP) image ## Run the image's six components on the dev stack's PostgreSQL/NATS; one webhook to a ticket
	$(PY) -m tests.image.smoke --image $(IMAGE):$(IMAGE_TAG) --engine $(CONTAINER_ENGINE) \
	  -- $(CONTAINER_FLAGS)

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) .data build *.egg-info third_party
