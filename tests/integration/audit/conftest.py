"""All five services on a database of this package's own, for the audit log tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.integration.contracts.mesh import Mesh, mesh


def libpq(url: str) -> str:
    """``url`` as libpq takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="package")
def audit_db(pg_url: str) -> Iterator[str]:
    """A database for this package, dropped afterwards."""
    name = f"au_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq(pg_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq(pg_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="package")
async def running(audit_db: str, nats_url: str) -> AsyncIterator[Mesh]:
    """Every service serving."""
    async with mesh(audit_db, nats_url) as started:
        yield started
