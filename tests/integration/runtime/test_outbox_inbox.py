"""An event published through the outbox reaches a consumer exactly once in effect."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from tests.integration.runtime.harness import Demo, poll
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.consumer import BatchConsumer
from triage.runtime.events import ReceivedEvent, new_envelope

pytestmark = pytest.mark.integration


def _events_of(tenants: Sequence[str], count: int) -> list[ReceivedEvent]:
    """``count`` events, their tenants taken from ``tenants`` in turn."""
    return [
        ReceivedEvent(
            envelope=new_envelope(
                tenant_id=tenants[i % len(tenants)],
                event_type="alert.received",
                payload=Envelope(),
                producer="test",
            ),
            subject="s",
            headers={},
            num_delivered=1,
        )
        for i in range(count)
    ]


async def test_event_reaches_consumer_once(fresh_db: str, nats_url: str) -> None:
    demo = await Demo.start(fresh_db, nats_url)
    try:
        consumer = demo.consumer("once")
        demo.tasks.append(asyncio.create_task(consumer.run()))
        event_id = await demo.write_note(str(uuid.uuid4()), "disk full")

        async def applied() -> bool:
            return await demo.effect_count(event_id) == 1

        await poll(applied)
        await poll(lambda: _zero(demo, "once"))
        assert await demo.effect_count(event_id) == 1
    finally:
        await demo.stop()


async def _zero(demo: Demo, durable: str) -> bool:
    return await demo.caught_up(durable)


async def test_consumer_dying_after_commit_hands_over_without_a_second_effect(
    fresh_db: str, nats_url: str
) -> None:
    demo = await Demo.start(fresh_db, nats_url)
    try:
        died = asyncio.Event()
        seen_by_second: list[str] = []

        async def die(event: ReceivedEvent) -> None:
            died.set()
            await asyncio.Event().wait()  # hang here until cancelled (a kill -9 stand-in)

        first = demo.consumer("dies", after_effect=die, member="first")
        first_task = asyncio.create_task(first.run())
        event_id = await demo.write_note(str(uuid.uuid4()), "cpu high")
        await asyncio.wait_for(died.wait(), timeout=10)
        first_task.cancel()  # no leave(): its leases run out on their own
        await asyncio.gather(first_task, return_exceptions=True)
        assert await demo.effect_count(event_id) == 1

        async def record(event: ReceivedEvent) -> None:
            seen_by_second.append(event.event_id)

        second = demo.consumer("dies", after_effect=record, member="second")
        demo.tasks.append(asyncio.create_task(second.run()))
        later = await demo.write_note(str(uuid.uuid4()), "cpu high again")

        async def taken_over() -> bool:
            return later in seen_by_second

        await poll(taken_over, timeout=15)
        # The next owner starts at the position the dead one last recorded (its heartbeat,
        # at most a tick behind): an event read again is dropped by the inbox.
        assert await demo.effect_count(event_id) == 1
        assert await demo.effect_count(later) == 1
    finally:
        await demo.stop()


async def test_relay_publishing_twice_has_no_second_effect(fresh_db: str, nats_url: str) -> None:
    demo = await Demo.start(fresh_db, nats_url)
    try:
        consumer = demo.consumer("twice")
        demo.tasks.append(asyncio.create_task(consumer.run()))
        event_id = await demo.write_note(str(uuid.uuid4()), "service stopped")

        async def applied() -> bool:
            return await demo.effect_count(event_id) == 1

        await poll(applied)
        # The relay replays every row (as after a NATS loss): JetStream's dedup window drops it.
        assert await demo.relay.republish_since(_long_ago()) >= 1
        await poll(lambda: _all_published(demo))
        # A publish that escapes the dedup window (a new Nats-Msg-Id) is caught by the inbox.
        async with demo.db.system_transaction() as session:
            from sqlalchemy import select

            from tests.integration.runtime.demo_schema import outbox

            row = (
                await session.execute(
                    select(outbox.c.subject, outbox.c.envelope).where(outbox.c.event_id == event_id)
                )
            ).one()
        await demo.bus.publish_raw(row.subject, row.envelope, event_id=str(uuid.uuid4()))
        stream = await demo.bus.js.stream_info("TRIAGE_ALERT")
        assert stream.state.messages == 2
        await poll(lambda: _zero(demo, "twice"))
        assert await demo.effect_count(event_id) == 1
    finally:
        await demo.stop()


async def _all_published(demo: Demo) -> bool:
    from sqlalchemy import func, select

    from tests.integration.runtime.demo_schema import outbox_pending

    async with demo.db.system_transaction() as session:
        pending = (
            await session.execute(select(func.count()).select_from(outbox_pending))
        ).scalar_one()
    return pending == 0


def _long_ago() -> datetime:
    return datetime(2000, 1, 1, tzinfo=UTC)


async def test_an_event_that_keeps_failing_is_dead_lettered(fresh_db: str, nats_url: str) -> None:
    demo = await Demo.start(fresh_db, nats_url)
    try:
        await demo.bus.js.purge_stream("TRIAGE_DEADLETTER")
        attempts: list[int] = []

        async def always_fail(events: Sequence[ReceivedEvent]) -> None:
            attempts.extend(e.num_delivered for e in events)
            raise RuntimeError("handler bug")

        consumer = BatchConsumer(
            demo.bus,
            demo.db,
            service="demo",
            durable="poison",
            filter_subjects=["triage.alert.received.>"],
            handler=always_fail,
            max_deliveries=3,
            fetch_timeout_seconds=0.2,
        )
        demo.tasks.append(asyncio.create_task(consumer.run()))
        event_id = await demo.write_note(str(uuid.uuid4()), "poison")

        async def dead_lettered() -> bool:
            info = await demo.bus.js.stream_info("TRIAGE_DEADLETTER")
            return bool(info.state.messages) and await _zero(demo, "poison")

        await poll(dead_lettered, timeout=20)
        message = await demo.bus.js.get_last_msg("TRIAGE_DEADLETTER", "triage.deadletter.poison")
        envelope = Envelope()
        envelope.ParseFromString(message.data or b"")
        assert envelope.event_id == event_id
        assert message.headers is not None
        assert message.headers["Triage-Dead-Reason"] == "RuntimeError: handler bug"
        # The batch once, then the event alone up to max_deliveries times.
        assert len(attempts) == 1 + 3
    finally:
        await demo.stop()


async def test_inbox_claims_a_batch_once(fresh_db: str, nats_url: str) -> None:
    from tests.integration.runtime.demo_schema import inbox
    from triage.runtime.db import bind_tenants
    from triage.runtime.outbox import Inbox

    demo = await Demo.start(fresh_db, nats_url)
    try:
        tenants = [str(uuid.uuid4()), str(uuid.uuid4())]
        events = _events_of(tenants[:2], 4)
        box = Inbox(inbox, "batch")
        async with demo.db.transaction(None) as session:
            await bind_tenants(session, tenants)
            first = await box.claim_many(session, [*events, events[0]])
        async with demo.db.transaction(None) as session:
            await bind_tenants(session, tenants)
            again = await box.claim_many(session, events)
        assert [e.event_id for e in first] == [e.event_id for e in events]
        assert again == []
    finally:
        await demo.stop()


async def test_a_claiming_transaction_binds_claims_and_rolls_back_as_one(
    fresh_db: str, nats_url: str
) -> None:
    from sqlalchemy import func, select

    from tests.integration.runtime.demo_schema import inbox, notes
    from triage.runtime.outbox import Inbox

    demo = await Demo.start(fresh_db, nats_url)
    try:
        tenants = [str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())]
        for tenant in tenants:
            await demo.write_note(tenant, f"note of {tenant}")
        events = _events_of(tenants[:2], 4)
        box = Inbox(inbox, "claiming")

        async def failing_handler() -> None:
            async with box.claiming(demo.db, events) as (_, claimed):
                assert len(claimed) == 4
                raise RuntimeError("handler failed")  # the claim must roll back with it

        with pytest.raises(RuntimeError):
            await failing_handler()
        async with box.claiming(demo.db, [*events, events[0]]) as (session, fresh):
            # The batch's tenants are bound (row-level security): their notes, not the third's.
            visible = (await session.execute(select(func.count()).select_from(notes))).scalar()
        async with box.claiming(demo.db, events) as (_, again):
            pass

        assert [e.event_id for e in fresh] == [e.event_id for e in events]
        assert visible == 2
        assert again == []
    finally:
        await demo.stop()


async def test_cleanup_drops_old_published_rows_and_old_inbox_ids(
    fresh_db: str, nats_url: str
) -> None:
    from datetime import timedelta

    from sqlalchemy import func, select, update

    from tests.integration.runtime.demo_schema import inbox, outbox
    from triage.runtime.outbox import INBOX_RETENTION

    demo = await Demo.start(fresh_db, nats_url)
    try:
        consumer = demo.consumer("cleanup")
        demo.tasks.append(asyncio.create_task(consumer.run()))
        event_id = await demo.write_note(str(uuid.uuid4()), "old news")

        async def applied() -> bool:
            return await demo.effect_count(event_id) == 1

        await poll(applied)
        await poll(lambda: _all_published(demo))
        long_ago = datetime.now(UTC) - INBOX_RETENTION - timedelta(days=1)
        async with demo.db.system_transaction() as session:
            await session.execute(update(outbox).values(created_at=long_ago))
            await session.execute(update(inbox).values(handled_at=long_ago))
        demo.relay._last_cleanup = 0.0
        await demo.relay._maybe_cleanup()
        async with demo.db.system_transaction() as session:
            left_outbox = (
                await session.execute(select(func.count()).select_from(outbox))
            ).scalar_one()
            left_inbox = (
                await session.execute(select(func.count()).select_from(inbox))
            ).scalar_one()
        assert (left_outbox, left_inbox) == (0, 0)
    finally:
        await demo.stop()
