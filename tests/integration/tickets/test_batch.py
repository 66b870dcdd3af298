"""One large consumer batch has exactly the effects of its alerts handled one at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.tickets import models
from services.tickets.domain.tickets import Damping, TenantSettings
from services.tickets.events import alert_batch_handler, in_occurrence_order, routed_alert
from tests.integration.tickets.harness import T0, Harness, new_tenant, routed
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.events import ReceivedEvent, unpack
from triage.runtime.outbox import Inbox
from triage.tickets.v1 import events_pb2 as tickets_events

pytestmark = pytest.mark.integration
RESET = ingest_pb.ALERT_KIND_RESET


def _script(tenant: str, *, with_reset: bool) -> list[Envelope]:
    """Repeats with due occurrence comments, opens, a reset that arrives before a trigger
    that occurred before it (a batch applies them in occurrence order), a late trigger."""
    out: list[Envelope] = []
    for minute in range(6):
        for device in ("a", "b", "c"):
            out.append(
                routed(
                    tenant,
                    device=device,
                    series=f"int-1:{device}",
                    occurred=T0 + timedelta(minutes=minute),
                )
            )
    out.append(routed(tenant, device="d", series="int-1:d", persistence=(2, timedelta(hours=1))))
    if with_reset:
        out.append(
            routed(
                tenant,
                kind=RESET,
                device="b",
                series="int-1:b",
                occurred=T0 + timedelta(minutes=6, seconds=30),
            )
        )
    for minute, device in ((6, "b"), (8, "b"), (9, "c"), (10, "a")):
        out.append(
            routed(
                tenant,
                device=device,
                series=f"int-1:{device}",
                occurred=T0 + timedelta(minutes=minute),
            )
        )
    out.append(
        routed(
            tenant,
            device="d",
            series="int-1:d",
            persistence=(2, timedelta(hours=1)),
            occurred=T0 + timedelta(minutes=1),
        )
    )
    return out


def _order(envelope: Envelope) -> str:
    return routed_alert(envelope).dedup_key


async def _state(harness: Harness, tenant: str) -> dict[str, Any]:
    tickets = await harness.tickets(tenant)
    by_id = {t.id: t.number for t in tickets}
    async with harness.db.transaction(tenant) as session:
        h, c = models.history, models.comments
        history = (
            await session.execute(select(h.c.ticket_id, h.c.kind, h.c.detail).order_by(h.c.seq))
        ).all()
        comments = (await session.execute(select(c.c.ticket_id, c.c.body).order_by(c.c.seq))).all()
    occurred = [
        unpack(e, tickets_events.TicketOccurred)
        for e in await harness.events(tenant, "ticket.occurred")
    ]
    return {
        "tickets": [
            (
                t.number,
                t.dedup_key.split("/", 1)[1] if t.dedup_key else None,
                t.occurrence_count,
                t.first_occurrence_at,
                t.last_occurrence_at,
                t.linked_series_keys,
                t.status,
                t.close_reason,
                t.version,
                t.occurrence_comment_at,
                t.uncommented_occurrences,
                t.is_open,
            )
            for t in tickets
        ],
        "history": [(by_id[r.ticket_id], r.kind, r.detail.startswith("alert ")) for r in history],
        "comments": [(by_id[r.ticket_id], r.body) for r in comments],
        "occurred": [(o.ticket.number, o.occurrence_count, o.ticket.etag) for o in occurred],
        "events": {
            kind: len(await harness.events(tenant, kind))
            for kind in (
                "ticket.opened",
                "ticket.occurred",
                "ticket.commented",
                "ticket.closed",
                "ticket.updated",
            )
        },
    }


@pytest.mark.parametrize("with_reset", [True, False])
async def test_one_batch_equals_one_alert_at_a_time(harness: Harness, with_reset: bool) -> None:
    batched, other, reference = new_tenant(), new_tenant(), new_tenant()
    settings = TenantSettings(
        occurrence_comment_interval=timedelta(minutes=2), damping=Damping(enabled=False)
    )
    for tenant in (batched, other, reference):
        await harness.put_settings(tenant, settings)

    # The batch's order: by key, each series' alerts in occurrence order (b's trigger of
    # minute 6 before the reset of 6:30 that arrived first).
    envelopes = [
        e.envelope
        for e in in_occurrence_order(
            [
                ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
                for e in sorted(_script(reference, with_reset=with_reset), key=_order)
            ]
        )
    ]
    for envelope in envelopes:
        async with harness.db.transaction(reference) as session:
            await harness.service.on_alert(session, routed_alert(envelope))

    script = _script(batched, with_reset=with_reset) + _script(other, with_reset=with_reset)
    handle = alert_batch_handler(
        harness.db, Inbox(models.inbox, "tickets-batch-test"), harness.service
    )
    # A redelivered event inside the batch has no second effect.
    received = [
        ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
        for e in sorted([*script, script[0]], key=_order)
    ]
    await handle(received)
    await handle(received[:5])  # and neither has a later redelivery

    want = await _state(harness, reference)
    assert await _state(harness, batched) == want
    assert await _state(harness, other) == want
    assert want["events"]["ticket.closed"] == int(with_reset)
    assert want["comments"]
