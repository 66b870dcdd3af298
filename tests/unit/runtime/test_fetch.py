"""How a batch consumer fetches: one message, then a lingered batch while events stream,
else only as many more as are already waiting.

A pull request for more than the server holds stays open until it expires, so asking for a
whole batch on a quiet stream cost every hop the fetch timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg

from triage.runtime.batching import ArrivalRate
from triage.runtime.bus import Bus
from triage.runtime.consumer import BatchConsumer
from triage.runtime.db import Database
from triage.runtime.leases import Lease


def _msg(pending: int, n: int = 1) -> Msg:
    reply = f"$JS.ACK.TRIAGE_ALERT.c.1.{n}.{n}.1700000000000000000.{pending}"
    return Msg(_client=cast(Any, None), subject="triage.alert.received.t", reply=reply)


@dataclass
class FakeSubscription:
    """Answers fetches from a script; records what was asked."""

    answers: list[list[Msg] | Exception]
    asked: list[tuple[int, float]] = field(default_factory=list)

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        self.asked.append((batch, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def _consumer(batch_size: int = 256) -> BatchConsumer:
    async def handler(events: Any) -> None:
        return None

    return BatchConsumer(
        cast(Bus, SimpleNamespace(partitions=16)),
        cast(Database, SimpleNamespace(schema="demo")),
        service="test",
        durable="test",
        filter_subjects=["triage.alert.received.*"],
        handler=handler,
        batch_size=batch_size,
        fetch_timeout_seconds=1.0,
        linger_seconds=0.02,
    )


async def test_nothing_else_waiting_means_no_second_request() -> None:
    sub = FakeSubscription([[_msg(pending=0)]])

    got = await _consumer()._fetch(sub)

    assert len(got) == 1
    assert sub.asked == [(1, 1.0)]


async def test_asks_for_exactly_the_waiting_messages() -> None:
    sub = FakeSubscription([[_msg(pending=3)], [_msg(2, 2), _msg(1, 3), _msg(0, 4)]])

    got = await _consumer()._fetch(sub)

    assert len(got) == 4
    assert sub.asked == [(1, 1.0), (3, 0.02)]


async def test_never_more_than_a_batch() -> None:
    sub = FakeSubscription([[_msg(pending=10_000)], [_msg(0)] * 255])

    got = await _consumer(batch_size=256)._fetch(sub)

    assert len(got) == 256
    assert sub.asked[1] == (255, 0.02)


async def test_a_batch_of_one_never_asks_twice() -> None:
    sub = FakeSubscription([[_msg(pending=50)]])

    got = await _consumer(batch_size=1)._fetch(sub)

    assert len(got) == 1
    assert sub.asked == [(1, 1.0)]


async def test_messages_taken_by_another_replica_leave_the_first_to_handle() -> None:
    sub = FakeSubscription([[_msg(pending=5)], nats.errors.TimeoutError()])

    got = await _consumer()._fetch(sub)

    assert len(got) == 1


async def test_while_events_stream_the_rest_of_a_batch_is_gathered_for_the_linger() -> None:
    consumer = _consumer()
    clock = FakeClock()
    consumer._arrivals = ArrivalRate(clock=clock)
    for _ in range(100):  # 200 events/s: four expected within a 20 ms linger
        consumer._arrivals.add(1)
        clock.now += 0.005
    sub = FakeSubscription([[_msg(pending=0)], [_msg(0, 2), _msg(0, 3)]])

    got = await consumer._fetch(sub)

    assert len(got) == 3
    assert sub.asked == [(1, 1.0), (255, 0.02)]


async def test_after_a_quiet_spell_the_consumer_stops_lingering() -> None:
    consumer = _consumer()
    clock = FakeClock()
    consumer._arrivals = ArrivalRate(clock=clock)
    for _ in range(100):
        consumer._arrivals.add(1)
        clock.now += 0.005
    clock.now += 10.0  # nothing for ten seconds
    sub = FakeSubscription([[_msg(pending=0)]])

    await consumer._fetch(sub)

    assert sub.asked == [(1, 1.0)]


def test_arrival_rate_follows_a_steady_stream_and_decays_after_it() -> None:
    clock = FakeClock()
    rate = ArrivalRate(horizon=1.0, clock=clock)
    for _ in range(1000):  # 100/s for ten seconds
        rate.add(1)
        clock.now += 0.01

    assert 90 < rate.per_second() < 110
    clock.now += 5.0
    assert rate.per_second() < 1.0


@dataclass
class SwallowingSubscription:
    """Returns a message even when cancelled, as asyncio.wait_for on Python 3.11 can."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        self.entered.set()
        with contextlib.suppress(asyncio.CancelledError):  # the cancel meets a message
            await asyncio.sleep(3600)
        return [_msg(pending=0)]

    async def unsubscribe(self) -> None:
        return None


class FakeLeases:
    """Holds the one partition at once, in memory."""

    consumer = "t"
    member = "m"

    async def seed(self, floor: int = 0) -> None:
        return None

    async def heartbeat(self, positions: object = None) -> tuple[dict[int, Lease], int]:
        return {0: Lease(0, 1, 0)}, 1

    async def acquire(self, wanted: int) -> dict[int, Lease]:
        return {}

    async def release(self, positions: object) -> None:
        return None


@dataclass
class FakeJetStream:
    sub: SwallowingSubscription

    async def stream_info(self, stream: str) -> Any:
        return SimpleNamespace(state=SimpleNamespace(last_seq=10))

    async def delete_consumer(self, stream: str, name: str) -> None:
        return None

    async def consumer_info(self, stream: str, name: str) -> Any:
        raise nats.js.errors.NotFoundError

    async def add_consumer(self, stream: str, config: Any) -> None:
        return None

    async def pull_subscribe_bind(self, durable: str, stream: str) -> SwallowingSubscription:
        return self.sub


async def test_a_cancel_swallowed_inside_a_fetch_still_stops_the_consumer() -> None:
    sub = SwallowingSubscription()
    handled: list[Any] = []

    async def handler(events: Any) -> None:
        handled.append(events)

    bus = cast(Bus, SimpleNamespace(js=FakeJetStream(sub), partitions=1))
    consumer = BatchConsumer(
        bus,
        cast(Database, SimpleNamespace(schema="demo")),
        service="t",
        durable="t",
        filter_subjects=["triage.alert.received.>"],
        handler=handler,
    )
    consumer.leases = cast(Any, FakeLeases())
    task = asyncio.create_task(consumer.run())
    await sub.entered.wait()

    task.cancel()
    done, _ = await asyncio.wait([task], timeout=10)

    assert task in done and task.cancelled()
    assert handled == []  # what was fetched is left for redelivery
