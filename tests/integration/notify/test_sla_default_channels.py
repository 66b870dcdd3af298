"""An SLA breach whose action asks for the tenant's default channels (the default policy's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.notify.flows import SECRET, policy, webhook_channel
from tests.integration.notify.harness import Harness, poll
from tests.integration.notify.receivers import HttpReceiver
from triage.notify.v1 import resources_pb2 as pb
from triage.sla.v1 import events_pb2 as sla_events
from triage.sla.v1 import resources_pb2 as sla_pb

pytestmark = pytest.mark.integration


def _breach(number: int) -> sla_events.SlaBreached:
    return sla_events.SlaBreached(
        ticket=sla_pb.SlaTicketRef(ticket_id=f"t-{number}", number=number, title="Server down"),
        target_kind=sla_pb.SLA_TARGET_KIND_RESOLUTION,
        actions=[sla_pb.ThresholdAction(notify=sla_pb.NotifyAction(default_channels=True))],
    )


async def test_default_channels_are_the_enabled_ones_and_none_means_no_delivery(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    silent = await harness.publish("sla.breached", _breach(1))
    await poll(harness.idle)
    assert await harness.deliveries(silent.event_id) == []

    receiver = receiver_factory(secret=SECRET).start()
    first = await webhook_channel(harness, receiver.url, name="noc")
    second = await webhook_channel(harness, receiver.url, name="oncall")
    await webhook_channel(harness, receiver.url, name="paused", disabled=True)
    # A policy already sending breaches to the first channel: still one delivery there.
    covering = await policy(harness, [first.id], [pb.NOTIFICATION_EVENT_TYPE_SLA_BREACHED])
    event = await harness.publish("sla.breached", _breach(2))

    async def delivered() -> bool:
        rows = await harness.deliveries(event.event_id)
        return len(rows) == 2 and all(r["status"] == "delivered" for r in rows)

    await poll(delivered)
    await poll(harness.idle)
    rows = {r["channel_id"]: r for r in await harness.deliveries(event.event_id)}
    assert set(rows) == {first.id, second.id}
    assert rows[first.id]["policy_id"] == covering.id
    assert rows[second.id]["policy_id"] is None
    assert all(r["ticket_id"] == "t-2" and r["critical"] for r in rows.values())


def _threshold(number: int) -> sla_events.SlaThreshold:
    return sla_events.SlaThreshold(
        ticket=sla_pb.SlaTicketRef(ticket_id=f"t-{number}", number=number, title="Disk full"),
        target_kind=sla_pb.SLA_TARGET_KIND_FIRST_RESPONSE,
        percent=75,
        actions=[sla_pb.ThresholdAction(notify=sla_pb.NotifyAction(default_channels=True))],
    )


async def _channels_notified(harness: Harness, number: int) -> set[str]:
    """The channels an SLA threshold with default channels queued deliveries for."""
    event = await harness.publish("sla.threshold", _threshold(number))

    async def handled() -> bool:
        return await harness.idle() and bool(await harness.deliveries(event.event_id))

    await poll(handled)
    return {r["channel_id"] for r in await harness.deliveries(event.event_id)}


async def test_a_threshold_notifies_only_the_enabled_channels_marked_default(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    engineers = await webhook_channel(harness, receiver.url, name="engineers", default=True)
    await webhook_channel(harness, receiver.url, name="customer psa")
    await webhook_channel(harness, receiver.url, name="paused", default=True, disabled=True)
    assert await _channels_notified(harness, 1) == {engineers.id}
    assert engineers.default


async def test_a_tenant_that_marks_no_default_gets_every_enabled_channel(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    first = await webhook_channel(harness, receiver.url, name="engineers")
    second = await webhook_channel(harness, receiver.url, name="customer psa")
    assert await _channels_notified(harness, 1) == {first.id, second.id}


async def test_when_every_default_is_disabled_the_warning_still_goes_to_the_enabled_ones(
    harness: Harness, receiver_factory: Callable[..., HttpReceiver]
) -> None:
    receiver = receiver_factory(secret=SECRET).start()
    enabled = await webhook_channel(harness, receiver.url, name="engineers")
    await webhook_channel(harness, receiver.url, name="paused", default=True, disabled=True)
    assert await _channels_notified(harness, 1) == {enabled.id}
