"""Events in, notifications out: retries, permanence, breaker, dedup, quiet hours."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.domain.breaker import BreakerPolicy
from tests.integration.notify.flows import SECRET, policy, webhook_channel
from tests.integration.notify.harness import Clock, Harness, fast_options, opened, poll
from tests.integration.notify.receivers import Answer, HttpReceiver
from triage.runtime.events import envelope_subject

pytestmark = pytest.mark.integration


async def test_receiver_down_then_up_gets_each_message_exactly_once(
    fresh_db: str, nats_url: str, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    # A breaker that never opens here: this test is about retries alone.
    patient = BreakerPolicy(failure_threshold=1000)
    harness = await Harness.start(fresh_db, nats_url, options=fast_options(breaker=patient))
    try:
        await _down_then_up(harness, receiver_factory(secret=SECRET))
    finally:
        await harness.stop()


async def _down_then_up(harness: Harness, receiver: HttpReceiver) -> None:
    channel = await webhook_channel(harness, receiver.url)
    await policy(harness, [channel.id])
    events = [await harness.publish("ticket.opened", opened(n)) for n in (1, 2, 3)]

    async def retried_while_down() -> bool:
        rows = await harness.deliveries()
        return len(rows) == 3 and all(r["attempt_count"] >= 2 for r in rows)

    await poll(retried_while_down)
    assert receiver.count() == 0
    receiver.start()

    async def all_delivered() -> bool:
        rows = await harness.deliveries()
        return len(rows) == 3 and all(r["status"] == "delivered" for r in rows)

    await poll(all_delivered)
    counts = receiver.event_counts()
    assert {e.event_id: counts[e.event_id] for e in events} == {e.event_id: 1 for e in events}
    assert all(s.signature_valid for s in receiver.seen)
    for row in await harness.deliveries():
        tries = await harness.attempts(str(row["id"]))
        assert [a["success"] for a in tries][-1] is True
        assert {a["error_class"] for a in tries[:-1]} == {"connection"}
    announced = await harness.outbox_types()
    assert announced["notify.delivered"] == 3
    assert announced["notify.failed"] >= 6


async def test_permanent_4xx_is_not_retried(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET, default=lambda _s: Answer(400)).start()
    channel = await webhook_channel(harness, receiver.url)
    await policy(harness, [channel.id])
    event = await harness.publish("ticket.opened", opened())

    async def dead() -> bool:
        rows = await harness.deliveries(event.event_id)
        return len(rows) == 1 and rows[0]["status"] == "dead"

    await poll(dead)
    row = (await harness.deliveries(event.event_id))[0]
    tries = await harness.attempts(str(row["id"]))
    assert len(tries) == 1
    assert tries[0]["response_code"] == 400
    assert tries[0]["error_class"] == "rejected"
    assert "permanent" in row["dead_reason"]
    assert receiver.count() == 1


async def test_retry_after_and_429_are_retried(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    receiver.script.append(Answer(429, {"Retry-After": "1"}))
    channel = await webhook_channel(harness, receiver.url)
    await policy(harness, [channel.id])
    event = await harness.publish("ticket.opened", opened())

    async def delivered() -> bool:
        rows = await harness.deliveries(event.event_id)
        return bool(rows) and rows[0]["status"] == "delivered"

    await poll(delivered)
    tries = await harness.attempts(str((await harness.deliveries(event.event_id))[0]["id"]))
    assert [a["response_code"] for a in tries] == [429, 200]
    assert tries[0]["retry_after_seconds"] == 1.0
    assert tries[1]["started_at"] - tries[0]["started_at"] >= timedelta(seconds=1)


async def test_breaker_opens_and_recovers(
    fresh_db: str, nats_url: str, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    cool_down = timedelta(seconds=0.6)
    harness = await Harness.start(
        fresh_db,
        nats_url,
        options=fast_options(breaker=BreakerPolicy(failure_threshold=3, cool_down=cool_down)),
    )
    try:
        receiver = receiver_factory(secret=SECRET, default=lambda _s: Answer(503)).start()
        channel = await webhook_channel(harness, receiver.url)
        await policy(harness, [channel.id])
        event = await harness.publish("ticket.opened", opened())

        async def opened_breaker() -> bool:
            return await harness.breaker_state(channel.id) == "open"

        await poll(opened_breaker)
        receiver.default = lambda _s: Answer(200)

        async def recovered() -> bool:
            rows = await harness.deliveries(event.event_id)
            return bool(rows[0]["status"] == "delivered")

        await poll(recovered)
        assert await harness.breaker_state(channel.id) == "closed"
        row = (await harness.deliveries(event.event_id))[0]
        tries = await harness.attempts(str(row["id"]))
        assert [a["response_code"] for a in tries] == [503, 503, 503, 200]
        assert tries[3]["started_at"] - tries[2]["started_at"] >= cool_down
    finally:
        await harness.stop()


async def test_redelivered_event_produces_no_second_delivery(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    channel = await webhook_channel(harness, receiver.url)
    await policy(harness, [channel.id])
    event = await harness.publish("ticket.opened", opened())

    async def delivered() -> bool:
        rows = await harness.deliveries(event.event_id)
        return bool(rows) and rows[0]["status"] == "delivered"

    await poll(delivered)
    # The same event again under a new message id escapes JetStream's dedup window.
    await harness.bus.publish_raw(
        envelope_subject(event),
        event.SerializeToString(),
        event_id=f"{event.event_id}-again",
    )
    await poll(harness.idle)
    # Even with the inbox forgotten, the delivery's idempotency key holds.
    from sqlalchemy import delete

    from services.notify.models import inbox

    async with harness.db.system_transaction() as session:
        await session.execute(delete(inbox).where(inbox.c.event_id == event.event_id))
    await harness.bus.publish_raw(
        envelope_subject(event),
        event.SerializeToString(),
        event_id=f"{event.event_id}-third",
    )
    await poll(harness.idle)
    assert len(await harness.deliveries(event.event_id)) == 1
    assert receiver.event_counts()[event.event_id] == 1


async def test_quiet_hours_hold_non_critical_until_they_end(
    fresh_db: str, nats_url: str, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    from triage.notify.v1 import resources_pb2 as pb
    from triage.types.v1 import time_pb2

    clock = Clock(datetime(2030, 1, 7, 23, 0, tzinfo=UTC))
    harness = await Harness.start(fresh_db, nats_url, clock=clock)
    try:
        receiver = receiver_factory(secret=SECRET).start()
        quiet = pb.QuietHours(
            time_zone="Europe/Berlin",
            ranges=[
                time_pb2.WeeklyTimeRange(
                    start=time_pb2.TimeOfDay(hours=22), end=time_pb2.TimeOfDay(hours=7)
                )
            ],
        )
        channel = await webhook_channel(harness, receiver.url, quiet_hours=quiet)
        await policy(harness, [channel.id])
        calm = await harness.publish("ticket.opened", opened(1, severity=3))
        urgent = await harness.publish("ticket.opened", opened(2, severity=5))

        async def urgent_sent_calm_held() -> bool:
            rows = {r["event_id"]: r for r in await harness.deliveries()}
            return (
                rows.get(urgent.event_id, {}).get("status") == "delivered"
                and rows.get(calm.event_id, {}).get("hold_until") is not None
            )

        await poll(urgent_sent_calm_held)
        held = (await harness.deliveries(calm.event_id))[0]
        # 07:00 in Berlin on 8 January is 06:00 UTC.
        assert held["hold_until"] == datetime(2030, 1, 8, 6, 0, tzinfo=UTC)
        assert held["status"] == "queued"
        assert held["attempt_count"] == 0
        assert receiver.event_counts()[calm.event_id] == 0

        clock.set(datetime(2030, 1, 8, 6, 0, 1, tzinfo=UTC))
        harness.notify.worker.wake()

        async def released() -> bool:
            return bool((await harness.deliveries(calm.event_id))[0]["status"] == "delivered")

        await poll(released)
        assert receiver.event_counts()[calm.event_id] == 1
    finally:
        await harness.stop()


async def test_quiet_hours_without_a_zone_follow_the_tenants_zone(
    fresh_db: str, nats_url: str, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    from sqlalchemy import select

    from services.notify.models import tenant_zones
    from triage.ingest.v1 import events_pb2 as ingest_events
    from triage.ingest.v1 import resources_pb2 as ingest_pb
    from triage.notify.v1 import resources_pb2 as pb
    from triage.types.v1 import time_pb2

    clock = Clock(datetime(2030, 1, 7, 23, 0, tzinfo=UTC))
    harness = await Harness.start(fresh_db, nats_url, clock=clock)
    try:
        await harness.publish(
            "tenant.changed",
            ingest_events.TenantChanged(
                change=ingest_events.TENANT_CHANGE_UPDATED,
                tenant=ingest_pb.Tenant(id=harness.tenant_id, time_zone="Asia/Tokyo"),
            ),
        )

        async def zone_known() -> bool:
            async with harness.db.system_transaction() as session:
                zone = (await session.execute(select(tenant_zones.c.time_zone))).scalar()
            return zone == "Asia/Tokyo"

        await poll(zone_known)
        receiver = receiver_factory(secret=SECRET).start()
        # 09:00-18:00 with no zone: the tenant's, Tokyo. 2030-01-07 23:00 UTC is 08:00 on
        # the 8th in Tokyo: not quiet yet; at 00:30 UTC (09:30 Tokyo) it is.
        quiet = pb.QuietHours(
            ranges=[
                time_pb2.WeeklyTimeRange(
                    start=time_pb2.TimeOfDay(hours=9), end=time_pb2.TimeOfDay(hours=18)
                )
            ],
        )
        channel = await webhook_channel(harness, receiver.url, quiet_hours=quiet)
        await policy(harness, [channel.id])
        clock.set(datetime(2030, 1, 8, 0, 30, tzinfo=UTC))
        calm = await harness.publish("ticket.opened", opened(1, severity=3))

        async def held() -> bool:
            rows = await harness.deliveries(calm.event_id)
            return bool(rows) and rows[0]["hold_until"] is not None

        await poll(held)
        # 18:00 in Tokyo on 8 January is 09:00 UTC.
        assert (await harness.deliveries(calm.event_id))[0]["hold_until"] == datetime(
            2030, 1, 8, 9, 0, tzinfo=UTC
        )
        assert receiver.event_counts()[calm.event_id] == 0
    finally:
        await harness.stop()


async def test_an_event_no_policy_wants_writes_nothing(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    from sqlalchemy import select

    from services.notify.models import inbox
    from triage.tickets.v1 import events_pb2 as ticket_events

    receiver = receiver_factory(secret=SECRET).start()
    channel = await webhook_channel(harness, receiver.url)
    await policy(harness, [channel.id])  # ticket.opened only
    ignored = await harness.publish(
        "ticket.occurred", ticket_events.TicketOccurred(ticket=opened().ticket, occurrence_count=2)
    )
    wanted = await harness.publish("ticket.opened", opened())

    async def delivered() -> bool:
        rows = await harness.deliveries(wanted.event_id)
        return bool(rows) and rows[0]["status"] == "delivered"

    await poll(delivered)
    await poll(harness.idle)
    async with harness.db.system_transaction() as session:
        claimed = {str(e) for e in (await session.execute(select(inbox.c.event_id))).scalars()}
    assert wanted.event_id in claimed
    assert ignored.event_id not in claimed
    assert await harness.deliveries(ignored.event_id) == []
    assert receiver.event_counts() == {wanted.event_id: 1}
