"""One tickets service per test module, on its own database; tests use unique tenants."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.integration.tickets.harness import Harness


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def tickets_db(pg_url: str) -> Iterator[str]:
    """A database for this module, dropped afterwards."""
    name = f"tk_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
async def harness(tickets_db: str, nats_url: str) -> AsyncIterator[Harness]:
    """The tickets service with two consumer replicas, relay and gRPC server."""
    started = await Harness.start(tickets_db, nats_url)
    try:
        yield started
    finally:
        await started.stop()
