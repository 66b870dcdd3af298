"""The relay publishes what its own process committed from memory, the queue staying the truth."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

import pytest

from tests.integration.runtime.demo_schema import notes
from tests.integration.runtime.test_outbox_pending import RecordingBus, Setup, _envelope, setup
from triage.runtime.outbox import OutboxRelay

pytestmark = pytest.mark.integration
__all__ = ["setup"]  # the fixture, re-used


async def _poll(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


class FailingOnceBus(RecordingBus):
    """Refuses the first publish (NATS away for a moment), then records."""

    failed: bool = False

    async def publish_raw(
        self,
        subject: str,
        payload: bytes,
        *,
        event_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Fail once, then record ``event_id``."""
        if not self.failed:
            self.failed = True
            raise ConnectionError("nats is away")
        await super().publish_raw(subject, payload, event_id=event_id, headers=headers)


async def test_committed_events_are_published_without_reading_the_queue(setup: Setup) -> None:
    tenant = str(uuid.uuid4())
    relay = setup.relay(bus := RecordingBus())
    assert setup.outbox.take_scan()  # the first pass of a relay would read the queue
    event_ids = [await setup.write(tenant, f"n{n}") for n in range(5)]

    taken = await relay.publish_ready()
    assert taken == 5
    assert bus.published == event_ids  # in commit order
    assert await setup.counts() == (5, 0)  # rows kept, queue drained
    assert not setup.outbox.take_scan()  # nothing asked for a read of the queue
    assert await relay.publish_ready() == 0


async def test_a_rolled_back_transaction_hands_nothing_to_the_relay(setup: Setup) -> None:
    tenant = str(uuid.uuid4())

    async def failing_handler() -> None:
        async with setup.db.transaction(tenant) as session:
            await session.execute(
                notes.insert().values(id=str(uuid.uuid4()), tenant_id=tenant, body="x")
            )
            await setup.outbox.add(session, _envelope(tenant, "x"))
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        await failing_handler()
    assert setup.outbox.take_ready(100) == []
    assert await setup.counts() == (0, 0)


async def test_a_failed_publish_leaves_the_event_queued_for_the_scan(setup: Setup) -> None:
    tenant = str(uuid.uuid4())
    setup.outbox.take_scan()
    relay = setup.relay(bus := FailingOnceBus())
    event_id = await setup.write(tenant)

    with pytest.raises(ConnectionError):
        await relay.publish_ready()
    assert await setup.counts() == (1, 1)  # the claim rolled back
    assert setup.outbox.take_scan()  # and a read of the queue was asked for
    assert await relay.publish_pending() == 1
    assert bus.published == [event_id]
    assert await setup.counts() == (1, 0)


async def test_an_event_another_relay_already_published_is_not_published_again(
    setup: Setup,
) -> None:
    tenant = str(uuid.uuid4())
    mine, other = RecordingBus(), RecordingBus()
    event_id = await setup.write(tenant)
    # Another replica's scan gets there first.
    assert await setup.relay(other).publish_pending() == 1
    assert await setup.relay(mine).publish_ready() == 1  # taken from memory...
    assert mine.published == []  # ...but its id was no longer queued
    assert other.published == [event_id]


async def test_the_running_relay_publishes_commits_at_once_and_others_rows_by_scan(
    setup: Setup,
) -> None:
    tenant = str(uuid.uuid4())
    bus = RecordingBus()
    async with _running(setup.relay(bus)):
        first = await setup.write(tenant, "mine")
        await _poll(lambda: _published(bus, first))
        # A row this process did not commit (another replica's) is found by the scan,
        # which runs at least once per idle-poll interval even while commits keep coming.
        foreign = _envelope(tenant, "foreign")
        async with setup.db.transaction(tenant) as session:
            await setup.outbox.add(session, foreign)
        setup.outbox.take_ready(100)  # as if another process had committed it
        await _poll(lambda: _published(bus, foreign.event_id))
        assert sorted(bus.published) == sorted([first, foreign.event_id])


async def test_a_commit_after_a_quiet_spell_is_published_without_lingering(setup: Setup) -> None:
    # Lingering gathers a burst's commits into one round; the first commit after a quiet
    # spell has nothing to wait for. A linger longer than the poll's deadline shows it.
    tenant = str(uuid.uuid4())
    bus = RecordingBus()
    async with _running(setup.relay(bus, linger_seconds=60.0)):
        first = await setup.write(tenant, "alone")
        await _poll(lambda: _published(bus, first))


@asynccontextmanager
async def _running(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _published(bus: RecordingBus, event_id: str) -> bool:
    return event_id in bus.published
