"""Graceful handover: a stopping reader finishes its batch, gives its partitions back at
once, and the other reader goes on from the committed positions in stream order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

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


async def test_a_fenced_batch_leaves_nothing_of_the_partitions_still_held_unapplied(
    fresh_db: str, nats_url: str
) -> None:
    """A batch spanning several partitions rolls back whole when one of them was taken
    over; the events of the partitions still held are read again and applied."""
    from sqlalchemy import text

    from tests.integration.runtime.demo_schema import SCHEMA
    from triage.runtime.events import partition_of
    from triage.runtime.fence import Fenced

    demo = await Demo.start(fresh_db, nats_url)
    stolen: list[int] = []
    seen: dict[str, int] = {}
    try:
        tenant = str(uuid.uuid4())
        notes = [await demo.write_note(tenant, f"n{i}") for i in range(8)]
        # A slow heartbeat: the loss is learnt from the failed batch, not from a renewal.
        consumer = demo.consumer("fenced", member="reader", lease_tick_seconds=30)
        original = consumer._handler

        async def steal_first_partition(events: Sequence[ReceivedEvent]) -> None:
            parts = {partition_of(e.subject) for e in events}
            seen.update({e.event_id: partition_of(e.subject) for e in events})
            if not stolen and len(parts) > 1:
                stolen.append(partition_of(events[0].subject))
                async with demo.db.system_transaction() as session:
                    await session.execute(
                        text(
                            f"UPDATE {SCHEMA}.consumer_leases SET owner = 'thief', "
                            "epoch = epoch + 1, expires_at = now() + interval '1 hour' "
                            "WHERE consumer = 'fenced' AND partition = :p"
                        ),
                        {"p": stolen[0]},
                    )
                # Later events of the partitions still held arrive before anything else.
                notes.extend([await demo.write_note(tenant, f"m{i}") for i in range(8)])
                raise Fenced("taken over while the batch ran")
            await original(events)

        consumer._handler = steal_first_partition
        demo.tasks.append(asyncio.create_task(consumer.run()))

        def ours(event_id: str) -> bool:
            # An event never handed over is in the stolen partition: it is skipped.
            return event_id in seen and seen[event_id] not in stolen

        async def rest_applied() -> bool:
            if not stolen:
                return False
            counts = [await demo.effect_count(e) for e in notes if ours(e)]
            return all(c == 1 for c in counts)

        await poll(rest_applied, timeout=15)
        assert any(ours(e) for e in notes) and not all(ours(e) for e in notes)
        for event_id in notes:
            if not ours(event_id):
                assert await demo.effect_count(event_id) == 0  # the thief's now, not ours
        assert stolen[0] not in consumer.held
    finally:
        await demo.stop()
