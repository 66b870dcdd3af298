"""Graceful handover: a stopping reader finishes its batch, gives its partitions back at
once, and the other reader goes on from the committed positions in stream order."""

from __future__ import annotations

import asyncio
import uuid

from tests.integration.runtime.harness import Demo, poll
from triage.runtime.consumer import BatchConsumer
from triage.runtime.events import ReceivedEvent


async def test_a_stopped_reader_hands_its_partitions_over_at_once(
    fresh_db: str, nats_url: str
) -> None:
    demo = await Demo.start(fresh_db, nats_url)
    seen: list[tuple[str, str]] = []

    async def record(name: str, event: ReceivedEvent) -> None:
        seen.append((name, event.event_id))

    try:
        # Leases long enough that only a release (never an expiry) can move partitions.
        first = demo.consumer(
            "handover",
            member="first",
            lease_ttl_seconds=120,
            after_effect=lambda e: record("first", e),
        )
        second = demo.consumer(
            "handover",
            member="second",
            lease_ttl_seconds=120,
            after_effect=lambda e: record("second", e),
        )
        first_task = asyncio.create_task(first.run())
        await poll(lambda: _holds(first, 16))
        second_task = asyncio.create_task(second.run())
        demo.tasks.append(second_task)
        await poll(lambda: _holds(first, 8), timeout=15)  # rebalanced: 8 each
        await poll(lambda: _holds(second, 8), timeout=15)

        tenant = str(uuid.uuid4())
        before = [await demo.write_note(tenant, f"before {i}") for i in range(20)]
        await poll(lambda: _all_seen(seen, before))

        await first.stop()
        await asyncio.wait_for(first_task, timeout=10)
        await first.leave()
        await poll(lambda: _holds(second, 16), timeout=5)  # far sooner than the 120 s TTL

        after = [await demo.write_note(tenant, f"after {i}") for i in range(20)]
        await poll(lambda: _all_seen(seen, after))
        assert all(name == "second" for name, e in seen if e in after)
        for event_id in before + after:
            assert await demo.effect_count(event_id) == 1
        assert len(seen) == len(set(seen)) == 40
    finally:
        await demo.stop()


async def _holds(consumer: BatchConsumer, count: int) -> bool:
    return len(consumer.held) == count


async def _all_seen(seen: list[tuple[str, str]], ids: list[str]) -> bool:
    return set(ids) <= {e for _, e in seen}
