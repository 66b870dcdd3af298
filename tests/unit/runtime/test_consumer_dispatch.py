"""How a consumer starts batches from waiting events: concurrency under load, key order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.bus import BatchConsumer, Bus
from triage.runtime.events import ReceivedEvent


class FakeMsg:
    """The ack side of a NATS message."""

    def __init__(self) -> None:
        self.acked = False

    async def ack(self) -> None:
        """Record the ack."""
        self.acked = True


class HeldHandler:
    """Records each batch's event ids and holds it until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()

    async def __call__(self, events: Sequence[ReceivedEvent]) -> None:
        self.batches.append([e.event_id for e in events])
        await self.release.wait()


def _consumer(handler: HeldHandler, *, min_group: int = 4) -> BatchConsumer:
    return BatchConsumer(
        cast(Bus, object()),
        service="test",
        durable="test",
        filter_subjects=["triage.test.>"],
        handler=handler,
        batch_size=100,
        min_group_size=min_group,
        concurrent_batches=2,
    )


def _events(*keys: str) -> list[tuple[Any, ReceivedEvent]]:
    return [
        (
            FakeMsg(),
            ReceivedEvent(
                envelope=Envelope(event_id=f"{key}{n}", tenant_id="t", ordering_key=key),
                subject="s",
                headers={},
                num_delivered=1,
            ),
        )
        for n, key in enumerate(keys)
    ]


def _wait(consumer: BatchConsumer, pairs: list[tuple[Any, ReceivedEvent]]) -> None:
    consumer._pending.extend(pairs)
    consumer._in_flight += len(pairs)
    consumer._dispatch()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_trickle_waits_for_the_running_batch_then_goes_as_one() -> None:
    handler = HeldHandler()
    consumer = _consumer(handler)
    _wait(consumer, _events("a", "b"))
    await _settle()
    _wait(consumer, _events("c", "d"))  # fewer than min_group_size: no second transaction
    await _settle()
    assert handler.batches == [["a0", "b1"]]
    handler.release.set()
    await _settle()
    assert handler.batches == [["a0", "b1"], ["c0", "d1"]]
    assert consumer._in_flight == 0


async def test_under_load_a_second_batch_runs_beside_without_the_busy_keys() -> None:
    handler = HeldHandler()
    consumer = _consumer(handler)
    first = _events("a", "b")
    _wait(consumer, first)
    await _settle()
    # A backlog: a's later event must wait for a's running batch, and so must every
    # later event of a, even behind events that could go.
    _wait(consumer, _events("a", "c", "d", "e", "a", "f"))
    await _settle()
    assert handler.batches == [["a0", "b1"], ["c1", "d2", "e3", "f5"]]
    handler.release.set()
    await _settle()
    assert handler.batches[2] == ["a0", "a4"]
    await _settle()
    assert consumer._in_flight == 0
    assert not consumer._busy_keys
    assert all(cast(FakeMsg, msg).acked for msg, _ in first)
