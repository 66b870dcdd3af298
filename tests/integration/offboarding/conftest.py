"""Fixtures of the offboarding tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.rules.service.clock import ManualClock
from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules


@pytest.fixture
async def rules(fresh_db: str, nats_url: str) -> AsyncIterator[Rules]:
    """A running rules service on a fresh database."""
    running = await Rules.start(fresh_db, nats_url, ManualClock(T0))
    try:
        yield running
    finally:
        await running.stop()
