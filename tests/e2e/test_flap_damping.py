"""Flap damping across the mesh (issue 18): a NinjaOne check that flaps 25 times through
the real webhook gateway, rules, tickets and notify opens one ticket, sends one "flapping"
notification (not one per flap) and closes once the check has been quiet."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.harness import Mesh, eventually
from tests.e2e.providers import ninja_reset, ninja_trigger
from tests.integration.notify.conftest import free_port
from tests.integration.notify.receivers import HttpReceiver
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.notify.v1 import resources_pb2 as notify_pb
from triage.tickets.v1 import resources_pb2 as tickets_pb

pytestmark = pytest.mark.e2e
FLAPS = 25
TICKET_EVENTS = [
    notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED,
    notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_OCCURRED,
    notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_UPDATED,
    notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_COMMENTED,
    notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_CLOSED,
    notify_pb.NOTIFICATION_EVENT_TYPE_TICKET_REOPENED,
]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """A local webhook endpoint for the tenant's notification channel."""
    started = HttpReceiver(free_port()).start()
    try:
        yield started
    finally:
        started.stop()


async def test_a_flapping_check_gives_one_ticket_and_one_flapping_notice(
    mesh: Mesh, receiver: HttpReceiver
) -> None:
    tenant = await mesh.new_tenant("e2e flapping")
    await tenant.catch_all_rule()
    ninja = await tenant.integration("ninjaone")
    notify = notify_grpc.NotifyServiceStub(mesh.channels["notify"])
    channel = (
        await notify.CreateChannel(
            notify_api.CreateChannelRequest(
                channel=notify_pb.Channel(
                    display_name="ops hook",
                    webhook=notify_pb.WebhookConfig(
                        url=receiver.url + "/hook", signing_secret="whsec-e2e-0123456789"
                    ),
                )
            ),
            metadata=tenant.md,
        )
    ).channel
    (
        await notify.CreateNotificationPolicy(
            notify_api.CreateNotificationPolicyRequest(
                notification_policy=notify_pb.NotificationPolicy(
                    display_name="tickets to ops",
                    event_types=TICKET_EVENTS,
                    channel_ids=[channel.id],
                )
            ),
            metadata=tenant.md,
        ),
    )
    # Trigger, reset, trigger... 25 times in 25 s, an hour ago (so it is quiet by now).
    t0 = time.time() - 3600
    for i in range(2 * FLAPS):
        make = ninja_reset if i % 2 else ninja_trigger
        await ninja.post(make(series="flappy", device=9, activity_id=5000 + i, at=t0 + i / 2))

    async def closed_once_quiet() -> list[tickets_pb.Ticket] | None:
        tickets = await tenant.list_tickets()
        done = (
            len(tickets) == 1
            and tickets[0].occurrence_count == FLAPS
            and tickets[0].status == tickets_pb.TICKET_STATUS_CLOSED
        )
        return tickets if done else None

    # The flap sweep runs every 30 s; the last reset is an hour old.
    [ticket] = await eventually(closed_once_quiet, timeout=120, what="one ticket, closed")
    assert not ticket.flapping

    async def closed_notice() -> bool:
        return any(b"closed" in s.body and b"#1" in s.body for s in receiver.seen[-3:])

    await eventually(closed_notice, timeout=60, what="the close notified")
    bodies = [s.body for s in receiver.seen]
    print(f"{2 * FLAPS} alerts -> {len(bodies)} notifications")
    assert sum(1 for b in bodies if b"is flapping" in b) == 1
    # Only the changes before damping caught on notify, not one message per flap.
    assert len(bodies) < FLAPS, [b[:120] for b in bodies]
