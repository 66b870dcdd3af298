"""Session-wide real servers: one PostgreSQL and one NATS JetStream for the whole run.

``DATABASE_URL`` / ``NATS_URL`` point the suite at external servers instead.
"""

from __future__ import annotations

import asyncio
import os
import signal

# Tests fork service processes while gRPC is active in this process (see triage.devstack).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.engine import make_url

from triage.runtime.db import sqlalchemy_url
from triage.runtime.telemetry import setup_tracing

_SPANS = InMemorySpanExporter()


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped by SIGTERM (a CI or ``timeout`` limit) still tears its fixtures down:
    the session's PostgreSQL and NATS run detached and would outlive a killed pytest."""
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


def _libpq(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of database ``triage`` on the session's PostgreSQL server (superuser)."""
    if external := os.environ.get("DATABASE_URL"):
        yield sqlalchemy_url(external)
        return
    from triage.devstack.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


async def _mesh_streams(url: str) -> None:
    """Every stream of the mesh, as its services make them at start: harnesses that build a
    service from parts (no ``service_main``) purge and read them right away."""
    from triage.mesh import EVENT_DOMAINS
    from triage.runtime.bus import Bus

    bus = await Bus.connect(url, name="tests", streams=EVENT_DOMAINS)
    await bus.close()


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the session's NATS server with JetStream and the mesh's streams."""
    if external := os.environ.get("NATS_URL"):
        asyncio.run(_mesh_streams(external))
        yield external
        return
    from triage.devstack.nats import EmbeddedNats

    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    url = server.start()
    try:
        asyncio.run(_mesh_streams(url))
        yield url
    finally:
        server.stop()


@pytest.fixture
def fresh_db(pg_url: str) -> Iterator[str]:
    """A brand-new empty database for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """Every span finished in this process (tracing is installed once per process)."""
    setup_tracing("tests", exporter=_SPANS)
    return _SPANS


@pytest.fixture
def spans(span_exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    """The span exporter, emptied before the test."""
    span_exporter.clear()
    return span_exporter


@pytest.fixture
def repo_root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parent.parent
