"""One mesh of all five services for this package's tests, on its own database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.integration.contracts.mesh import Mesh, mesh


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="package")
def contracts_db(pg_url: str) -> Iterator[str]:
    """A database for this package, dropped afterwards."""
    name = f"ct_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="package")
async def running(contracts_db: str, nats_url: str) -> AsyncIterator[Mesh]:
    """Every service serving, with a tenant's metadata holding every scope."""
    async with mesh(contracts_db, nats_url) as started:
        yield started
