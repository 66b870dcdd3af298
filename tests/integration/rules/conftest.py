"""Fixtures of the rules service's integration tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.rules.service.clock import ManualClock
from tests.integration.rules.harness import Rules

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that only moves when a test moves it."""
    return ManualClock(T0)


@pytest.fixture
async def rules(fresh_db: str, nats_url: str, clock: ManualClock) -> AsyncIterator[Rules]:
    """A running rules service on a fresh database."""
    running = await Rules.start(fresh_db, nats_url, clock)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def tenant() -> str:
    """A fresh tenant id."""
    return str(uuid.uuid4())
