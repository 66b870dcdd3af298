# One image for the five Triage services (deploy/README.md):
#   python -m services.<name>            serve
#   python -m services.<name> migrate    migrate that service's schema
#   triage health                        the CLI (--entrypoint triage)
# Build with `make image` (podman or buildah; no Docker daemon needed).
#
# BASE_IMAGE must provide CPython 3.11 as `python3` with the venv module, and nothing
# else is assumed of it: the official slim image by default, or a local root
# filesystem (`make base-image`: Debian bookworm from mmdebstrap) where no registry is
# reachable. Build and runtime stages use the same base, so the venv copied from one
# runs in the other.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim

# --- build: every dependency as a wheel (pinned in pyproject.toml), then a venv -------
FROM ${BASE_IMAGE} AS build
# A CA bundle for pip where a proxy re-signs TLS (the Makefile mounts the host's,
# read-only, and sets this); empty means pip's own bundle.
ARG PIP_CERT=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_CERT=${PIP_CERT}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/image/constraints.txt ./
COPY buf/ buf/
COPY triage/ triage/
COPY services/ services/
# --only-binary: no compiler here or later, so a dependency without a wheel fails the
# build instead of compiling. constraints.txt pins the whole runtime tree to the tested
# versions (`make image-lock`). The runtime venv gets no pip and no dev extras.
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip wheel --wheel-dir /wheels --only-binary=:all: --no-binary=triage \
      --constraint constraints.txt . \
 && python3 -m venv --without-pip /opt/triage \
 && /opt/build/bin/pip --python /opt/triage/bin/python install --no-index \
      --find-links /wheels --compile triage \
 && /opt/triage/bin/python -c "import services.ingest, services.rules, services.tickets, services.sla, services.notify"

# --- runtime --------------------------------------------------------------------------
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/triage/triage
LABEL org.opencontainers.image.title="triage" \
      org.opencontainers.image.description="RMM alerts to PSA tickets: the five Triage services in one image" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# UID/GID 10001: what the manifests' securityContext runs as.
RUN groupadd --gid 10001 triage \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin triage
COPY --from=build /opt/triage /opt/triage
# Read-only root filesystem: bytecode was compiled at build time, and HOME and TMPDIR
# point at /tmp, the one writable mount (an emptyDir in Kubernetes, --tmpfs here).
ENV PATH=/opt/triage/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /opt/triage
USER 10001:10001
EXPOSE 50051 8080 9400
# Exec form, no shell: python is PID 1 and receives SIGTERM itself; triage.runtime.app
# handles it (health NOT_SERVING, gRPC drain, consumers commit their batch in flight,
# outbox flush, partitions released). The services start no child processes to reap.
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m"]
CMD ["services.ingest"]
