"""A suspended tenant's deliveries stay queued (not lost, not sent) and go out on resume."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.integration.notify.flows import SECRET, webhook_channel
from tests.integration.notify.harness import Harness, poll
from tests.integration.notify.receivers import HttpReceiver
from tests.integration.notify.test_isolation import _queue, _status
from triage.runtime.access_list import SUSPENDED, AccessList

pytestmark = pytest.mark.integration


async def test_deliveries_wait_while_the_tenant_is_suspended(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    try:
        access = AccessList()
        access.on_tenant_change.append(lambda _tenant: harness.notify.worker.wake())
        harness.notify.worker.claims.paused = access.suspended_now
        channel = await webhook_channel(harness, receiver.url)
        first = await _queue(harness, harness.tenant_id, channel.id, datetime.now(UTC))

        async def sent(delivery_id: str) -> bool:
            return await _status(harness, delivery_id) == "delivered"

        await poll(lambda: sent(first))
        access.apply(f"{SUSPENDED}{harness.tenant_id}", b"1")
        held = await _queue(harness, harness.tenant_id, channel.id, datetime.now(UTC))
        # The worker was woken for it and passes over it: still queued after an idle pass.
        await harness.notify.worker.pump()
        assert await _status(harness, held) == "queued"
        assert receiver.count() == 1

        access.apply(f"{SUSPENDED}{harness.tenant_id}", None)  # resumed: wakes the worker
        await poll(lambda: sent(held))
        assert receiver.count() == 2
    finally:
        receiver.stop()
