"""One channel's trouble stays its own: a hanging endpoint, a recovering one, test sends."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.notify.domain.breaker import BreakerPolicy
from services.notify.domain.model import NotificationMessage, Severity
from services.notify.domain.notifiable import Notifiable
from services.notify.domain.policy import EventFacts
from services.notify.service.planning import create_deliveries
from tests.integration.notify.flows import SECRET, create_channel, webhook_channel
from tests.integration.notify.harness import Clock, Harness, fast_options, poll
from tests.integration.notify.receivers import Answer, HttpReceiver, Seen
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration


async def _queue(harness: Harness, tenant_id: str, channel_id: str, now: datetime) -> str:
    """Queue one delivery of a fresh event to ``channel_id``, as the consumers would."""
    message = NotificationMessage(
        event_id=str(uuid.uuid4()),
        event_type="ticket.opened",
        tenant_id=tenant_id,
        occurred_at=now,
        severity=int(Severity.HIGH),
        title="Disk C: almost full",
        body="Free space 2%",
    )
    facts = EventFacts(event_type="ticket.opened", target_channel_ids=(channel_id,))
    async with harness.db.transaction(tenant_id) as session:
        (created,) = await create_deliveries(
            session, tenant_id=tenant_id, item=Notifiable(message, facts), now=now
        )
    harness.notify.worker.wake()
    return created


async def _status(harness: Harness, delivery_id: str) -> str:
    from sqlalchemy import select

    from services.notify.models import deliveries

    async with harness.db.system_transaction() as session:
        status = (
            await session.execute(select(deliveries.c.status).where(deliveries.c.id == delivery_id))
        ).scalar_one()
    return str(status)


async def test_a_hanging_endpoint_does_not_hold_another_tenants_delivery(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    release = threading.Event()

    def hang(_seen: Seen) -> Answer:
        release.wait(30)
        return Answer(200)

    stuck = receiver_factory(default=hang).start()
    healthy = receiver_factory(secret=SECRET).start()
    other_tenant = str(uuid.uuid4())
    try:
        hanging = await webhook_channel(harness, stuck.url, name="hangs")
        async with harness.channel() as ch:
            reply = await api_grpc.NotifyServiceStub(ch).CreateChannel(
                api.CreateChannelRequest(
                    channel=pb.Channel(
                        display_name="fine",
                        webhook=pb.WebhookConfig(url=healthy.url + "/hook", signing_secret=SECRET),
                    )
                ),
                metadata=harness.metadata(other_tenant),
            )
        now = datetime.now(UTC)
        # More than the channel's send limit, so its backlog waits too.
        stuck_ids = [await _queue(harness, harness.tenant_id, hanging.id, now) for _ in range(6)]

        async def hanging_sends_started() -> bool:
            return stuck.count() >= 1

        await poll(hanging_sends_started)
        other = await _queue(harness, other_tenant, reply.channel.id, datetime.now(UTC))

        async def other_delivered() -> bool:
            return await _status(harness, other) == "delivered"

        await poll(other_delivered, timeout=30)
        # Decided while the first tenant's sends were still hanging, not after they ended.
        assert not release.is_set()
        statuses = {await _status(harness, d) for d in stuck_ids}
        assert "sending" in statuses
        assert statuses <= {"sending", "queued"}
        assert healthy.count() == 1
    finally:
        release.set()


async def test_deferred_deliveries_go_right_after_a_successful_probe(
    fresh_db: str, nats_url: str, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock = Clock(t0)
    cool_down = timedelta(seconds=60)
    harness = await Harness.start(
        fresh_db,
        nats_url,
        clock=clock,
        options=fast_options(breaker=BreakerPolicy(failure_threshold=1, cool_down=cool_down)),
    )
    try:
        receiver = receiver_factory(secret=SECRET, default=lambda _s: Answer(503)).start()
        channel = await webhook_channel(harness, receiver.url)
        first = await _queue(harness, harness.tenant_id, channel.id, t0)

        async def opened() -> bool:
            return await harness.breaker_state(channel.id) == "open"

        await poll(opened)
        later = [await _queue(harness, harness.tenant_id, channel.id, t0) for _ in range(3)]

        async def deferred() -> bool:
            rows = {str(r["id"]): r for r in await harness.deliveries()}
            return all(rows[d]["next_attempt_at"] >= t0 + cool_down for d in later)

        await poll(deferred)
        receiver.default = lambda _s: Answer(200)
        # The cool-down has passed: one delivery probes; the clock then stands still, so
        # nothing that waits for a later instant can go.
        clock.set(t0 + cool_down + timedelta(seconds=1))
        harness.notify.worker.wake()

        async def all_delivered() -> bool:
            return {await _status(harness, d) for d in [first, *later]} == {"delivered"}

        await poll(all_delivered)
        assert await harness.breaker_state(channel.id) == "closed"
    finally:
        await harness.stop()


async def test_send_test_refuses_a_disabled_channel(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    created = await webhook_channel(harness, receiver.url, disabled=True)
    async with harness.channel() as ch:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await api_grpc.NotifyServiceStub(ch).SendTestNotification(
                api.SendTestNotificationRequest(channel_id=created.id),
                metadata=harness.metadata(),
            )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert receiver.count() == 0


async def test_send_test_respects_an_open_breaker_and_says_when_to_retry(
    fresh_db: str, nats_url: str, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    harness = await Harness.start(
        fresh_db,
        nats_url,
        options=fast_options(
            breaker=BreakerPolicy(failure_threshold=1, cool_down=timedelta(minutes=10))
        ),
    )
    try:
        receiver = receiver_factory(secret=SECRET, default=lambda _s: Answer(503)).start()
        channel = await webhook_channel(harness, receiver.url)
        await _queue(harness, harness.tenant_id, channel.id, datetime.now(UTC))

        async def opened() -> bool:
            return await harness.breaker_state(channel.id) == "open"

        await poll(opened)
        seen = receiver.count()
        async with harness.channel() as ch:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await api_grpc.NotifyServiceStub(ch).SendTestNotification(
                    api.SendTestNotificationRequest(channel_id=channel.id),
                    metadata=harness.metadata(),
                )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        status = rpc_status.from_call(refused.value)  # type: ignore[arg-type]
        assert status is not None
        retry = error_details_pb2.RetryInfo()
        assert any(d.Unpack(retry) for d in status.details)
        assert timedelta(0) < retry.retry_delay.ToTimedelta() <= timedelta(minutes=10)
        assert receiver.count() == seen
    finally:
        await harness.stop()


async def test_send_test_reports_the_receivers_retry_after(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    receiver.script.append(Answer(429, {"Retry-After": "30"}))
    created = await create_channel(
        harness,
        pb.Channel(
            display_name="limited",
            webhook=pb.WebhookConfig(url=receiver.url + "/hook", signing_secret=SECRET),
        ),
    )
    async with harness.channel() as ch:
        reply = await api_grpc.NotifyServiceStub(ch).SendTestNotification(
            api.SendTestNotificationRequest(channel_id=created.id), metadata=harness.metadata()
        )
    assert reply.status == pb.DELIVERY_STATUS_FAILED
    assert reply.response_code == 429
    assert "retry after 30 s" in reply.error_message
