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
