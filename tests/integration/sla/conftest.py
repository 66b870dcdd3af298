"""Fixtures of the sla integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.integration.sla.harness import Sla


@pytest.fixture
async def sla(fresh_db: str, nats_url: str) -> AsyncIterator[Sla]:
    """An sla instance on a fresh database with a controllable clock."""
    instance = await Sla.start(fresh_db, nats_url)
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
def tenant() -> str:
    """A new tenant id."""
    return str(uuid.uuid4())
