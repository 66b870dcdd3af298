"""One relay per service publishes, in id order: a follower's commits go out through the
leader, interleaved with the leader's own in commit order; the leader's death hands over."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import cast

import pytest

from tests.integration.runtime.demo_schema import outbox as outbox_table
from tests.integration.runtime.test_outbox_pending import RecordingBus, Setup, setup
from triage.runtime.bus import Bus
from triage.runtime.outbox import Outbox, OutboxRelay
from triage.runtime.relay_leader import RelayLeadership

pytestmark = pytest.mark.integration
__all__ = ["setup"]


async def _poll(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


def _replica(setup: Setup, bus: RecordingBus) -> tuple[Outbox, OutboxRelay, RelayLeadership]:
    box = Outbox(outbox_table)
    lead = RelayLeadership(setup.db, retry_seconds=0.1)
    relay = OutboxRelay(
        db=setup.db,
        bus=cast(Bus, bus),
        outbox=box,
        service="demo",
        idle_poll_seconds=0.2,
        leadership=lead,
    )
    return box, relay, lead


async def test_one_leader_publishes_everyones_commits_in_commit_order(setup: Setup) -> None:
    bus = RecordingBus()
    box_a, relay_a, lead_a = _replica(setup, bus)
    box_b, relay_b, lead_b = _replica(setup, bus)
    tasks = [asyncio.create_task(relay_a.run())]
    try:
        await _poll(lambda: _true(lead_a.is_leader))
        tasks.append(asyncio.create_task(relay_b.run()))
        await asyncio.sleep(0.3)  # b has tried for the lock a few times
        assert lead_a.is_leader and not lead_b.is_leader
        tenant = str(uuid.uuid4())
        written: list[str] = []
        # One key's events committed alternately by both replicas.
        for n in range(10):
            replica = Setup(setup.db, box_a if n % 2 == 0 else box_b)
            written.append(await replica.write(tenant, f"n{n}"))
        await _poll(lambda: _true(set(written) <= set(bus.published)))
        assert [e for e in bus.published if e in written] == written  # commit order
        assert len(bus.published) == len(set(bus.published))

        # The leader goes away: the follower takes over and publishes what is left.
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)
        await _poll(lambda: _true(lead_b.is_leader))
        later = await Setup(setup.db, box_b).write(tenant, "after")
        await _poll(lambda: _true(later in bus.published))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _true(value: bool) -> bool:
    return value
