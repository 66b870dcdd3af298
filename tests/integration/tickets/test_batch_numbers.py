"""An alert batch numbers the tickets it opens in one allocation when a reset of their
series comes after them in the batch, with the effects of one alert at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.tickets import models
from services.tickets.domain.tickets import Damping, TenantSettings
from services.tickets.events import alert_batch_handler, routed_alert
from tests.integration.tickets.harness import T0, Harness, new_tenant, routed
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.events import ReceivedEvent
from triage.runtime.outbox import Inbox

pytestmark = pytest.mark.integration
RESET = ingest_pb.ALERT_KIND_RESET


def _at(minutes: int) -> Any:
    return T0 + timedelta(minutes=minutes)


def _script(tenant: str, *, reset_first: bool) -> list[Envelope]:
    """New problems whose series are reset in the same batch: by the trigger's own key, by
    a key that sorts after the trigger's (a series-only reset), and (``reset_first``) by one
    that sorts before it, so the batch applies that reset first."""
    out = [
        routed(tenant, device="b", series="int-1:b", occurred=_at(1)),
        routed(tenant, device="b", series="int-1:b", occurred=_at(2)),
        routed(tenant, kind=RESET, device="b", series="int-1:b", occurred=_at(3)),
        routed(tenant, device="c", series="int-1:c", occurred=_at(1)),
        routed(tenant, kind=RESET, device="zz", series="int-1:c", occurred=_at(2)),
        routed(tenant, device="e", series="int-1:e", occurred=_at(1)),
    ]
    if reset_first:
        out += [
            routed(tenant, device="d", series="int-1:d", occurred=_at(5)),
            routed(tenant, kind=RESET, device="0", series="int-1:d", occurred=_at(4)),
        ]
    return out


def _order(envelope: Envelope) -> str:
    return routed_alert(envelope).dedup_key


async def _state(harness: Harness, tenant: str) -> dict[str, Any]:
    tickets = sorted(await harness.tickets(tenant), key=lambda t: t.number)
    return {
        "tickets": [
            (
                t.number,
                (t.dedup_key or "").split("/", 1)[1],
                t.occurrence_count,
                t.status,
                t.close_reason,
                t.is_open,
            )
            for t in tickets
        ],
        "events": {
            kind: len(await harness.events(tenant, kind))
            for kind in ("ticket.opened", "ticket.occurred", "ticket.commented", "ticket.closed")
        },
    }


@pytest.mark.parametrize("reset_first", [False, True])
async def test_opens_before_a_reset_of_their_series_are_numbered_together(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, reset_first: bool
) -> None:
    batched, reference = new_tenant(), new_tenant()
    settings = TenantSettings(damping=Damping(enabled=False))
    for tenant in (batched, reference):
        await harness.put_settings(tenant, settings)
    for envelope in sorted(_script(reference, reset_first=reset_first), key=_order):
        async with harness.db.transaction(reference) as session:
            await harness.service.on_alert(session, routed_alert(envelope))

    one_by_one: list[str] = []
    next_number = harness.service._next_number

    async def counted(tenant_id: str) -> int:
        one_by_one.append(tenant_id)
        return await next_number(tenant_id)

    monkeypatch.setattr(harness.service, "_next_number", counted)
    handle = alert_batch_handler(
        harness.db, Inbox(models.inbox, "tickets-batch-numbers-test"), harness.service
    )
    await handle(
        [
            ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
            for e in sorted(_script(batched, reset_first=reset_first), key=_order)
        ]
    )

    want = await _state(harness, reference)
    assert await _state(harness, batched) == want
    assert [n for n, *_ in want["tickets"]] == list(range(1, len(want["tickets"]) + 1))
    assert want["events"]["ticket.closed"] == 2
    # Only the trigger whose series' reset the batch applied before it is numbered alone
    # (that reset may have superseded it).
    assert one_by_one == [batched] * int(reset_first)
