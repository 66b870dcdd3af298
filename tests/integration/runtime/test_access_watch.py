"""The access-list watcher ends when stopped (a service's shutdown waits for it)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import nats
import pytest

from triage.runtime.access_list import AccessList, AccessWatcher, publish_revocation

pytestmark = pytest.mark.integration


async def test_stop_ends_the_watch_without_a_cancel(nats_url: str) -> None:
    """After stop(), run() returns by itself and starts no new watch (it used to watch
    again at once, so shutdown hung on a watch nobody would end)."""
    conn = await nats.connect(nats_url)
    try:
        js = conn.jetstream()
        watcher = AccessWatcher(js, AccessList())
        await watcher.start()
        task = asyncio.create_task(watcher.run())
        token = f"t-{datetime.now(UTC).timestamp()}"
        await publish_revocation(js, token, datetime.now(UTC) + timedelta(minutes=5))
        async with asyncio.timeout(10):
            while not watcher.access.is_revoked(token):  # noqa: ASYNC110 (set by the watch task)
                await asyncio.sleep(0.02)
        await watcher.stop()
        async with asyncio.timeout(10):
            await task
    finally:
        await conn.close()
