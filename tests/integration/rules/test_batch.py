"""The alert.received consumer's batch handler: one batch behaves like its events in turn."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.rules.events import ALERT_DURABLE, alert_batch_handler
from services.rules.models import decisions, inbox, outbox, series
from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules, alert
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import events_pb2 as ingest_events
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.events import ReceivedEvent, envelope_subject, new_envelope
from triage.runtime.outbox import Inbox

pytestmark = pytest.mark.integration

TRACEPARENT = "00-{trace}-00f067aa0ba902b7-01"


def received(event: ingest_pb.AlertEvent, *, event_id: str | None = None) -> ReceivedEvent:
    envelope: Envelope = new_envelope(
        tenant_id=event.tenant_id,
        event_type="alert.received",
        payload=ingest_events.AlertReceived(alert=event),
        producer="ingest",
        ordering_key=event.series_key,
        event_id=event_id,
    )
    trace_id = uuid.uuid4().hex
    return ReceivedEvent(
        envelope=envelope,
        subject=envelope_subject(envelope),
        headers={"traceparent": TRACEPARENT.format(trace=trace_id)},
        num_delivered=1,
    )


async def test_a_batch_routes_like_its_events_one_after_another(rules: Rules, tenant: str) -> None:
    other = str(uuid.uuid4())
    handle = alert_batch_handler(rules.service, Inbox(inbox, ALERT_DURABLE))
    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    newer = alert(tenant, series_key="a", at=t2, sequence=2)
    stale = alert(tenant, series_key="a", at=t1, sequence=1)
    trigger = alert(tenant, series_key="b", at=t1, sequence=1)
    reset = alert(tenant, series_key="b", at=t2, sequence=2, kind=ingest_pb.ALERT_KIND_RESET)
    elsewhere = alert(other, series_key="a", at=t1)
    batch = [received(newer), received(stale), received(trigger), received(reset)]
    batch += [received(elsewhere), batch[0], received(newer)]  # a redelivery, a re-send

    await handle(batch)

    routed = await rules.routed()
    assert [r.alert.alert_id for r in routed] == [
        newer.alert_id,
        stale.alert_id,
        trigger.alert_id,
        reset.alert_id,
        elsewhere.alert_id,
    ]
    async with rules.db.system_transaction() as session:
        rows = {
            (str(r.tenant_id), r.series_key): r
            for r in (await session.execute(select(series))).all()
        }
        logged = (await session.execute(select(decisions.c.alert_id))).scalars().all()
        claimed = (await session.execute(select(inbox.c.event_id))).scalars().all()
    assert len(logged) == 5
    assert len(claimed) == 6
    # The stale trigger never overwrote the newer one.
    assert rows[(tenant, "a")].last_alert_id == newer.alert_id
    assert rows[(tenant, "a")].last_sequence == 2
    assert rows[(tenant, "a")].trigger_alert == newer.SerializeToString()
    # The reset ended the series and kept the trigger it ended.
    assert rows[(tenant, "b")].state == "reset"
    assert rows[(tenant, "b")].last_alert_id == reset.alert_id
    assert rows[(tenant, "b")].trigger_alert == trigger.SerializeToString()
    assert rows[(other, "a")].last_alert_id == elsewhere.alert_id

    # The same batch again changes nothing; a later reset keeps the stored trigger.
    later = alert(tenant, series_key="a", at=t2 + timedelta(minutes=1), sequence=3)
    later.kind = ingest_pb.ALERT_KIND_RESET
    await handle([*batch, received(later)])
    assert len(await rules.routed()) == 6
    async with rules.db.system_transaction() as session:
        row = (
            await session.execute(
                select(series).where(series.c.tenant_id == tenant, series.c.series_key == "a")
            )
        ).one()
    assert (row.state, row.last_alert_id) == ("reset", later.alert_id)
    assert row.trigger_alert == newer.SerializeToString()


async def test_each_routed_event_continues_its_own_alerts_trace(rules: Rules, tenant: str) -> None:
    handle = alert_batch_handler(rules.service, Inbox(inbox, ALERT_DURABLE))
    batch = [received(alert(tenant, series_key=f"s{n}", at=T0)) for n in range(3)]
    await handle(batch)
    async with rules.db.system_transaction() as session:
        rows = (await session.execute(select(outbox.c.headers).order_by(outbox.c.id))).all()
    sent = [e.headers["traceparent"].split("-")[1] for e in batch]
    assert [r.headers["traceparent"].split("-")[1] for r in rows] == sent
