"""Ingest mirrors the rules' window decisions onto the stored alert."""

from __future__ import annotations

import pytest

from tests.integration.ingest.conftest import Ingest, new_id, ninja_trigger
from tests.integration.runtime.harness import poll
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.rules.v1 import events_pb2 as rule_events
from triage.rules.v1 import resources_pb2 as rule_pb
from triage.runtime.bus import Bus
from triage.runtime.events import new_envelope

pytestmark = pytest.mark.integration


async def test_suppressed_alert_is_marked_and_cleared_when_its_window_ends(
    ingest: Ingest,
) -> None:
    integration_id, secret = await ingest.integration("ninjaone")
    accepted = await ingest.post("ninjaone", integration_id, ninja_trigger(), secret=secret)
    alert_id = accepted.json()["alert_ids"][0]
    alert = (
        await ingest.stub.GetAlertEvent(
            api.GetAlertEventRequest(alert_id=alert_id), metadata=ingest.md("ingest:read")
        )
    ).alert_event
    window_id = new_id()
    bus = await Bus.connect(ingest.svc.settings.nats_url, name="test")
    try:

        async def routed(kind: int, cause: int, window: str) -> None:
            await bus.publish(
                new_envelope(
                    tenant_id=ingest.tenant_id,
                    event_type="alert.routed",
                    producer="rules",
                    payload=rule_events.AlertRouted(
                        alert=alert,
                        decision=rule_pb.Decision(kind=kind, window_id=window),  # type: ignore[arg-type]
                        cause=cause,  # type: ignore[arg-type]
                    ),
                )
            )

        async def state() -> tuple[bool, str]:
            got = await ingest.stub.GetAlertEvent(
                api.GetAlertEventRequest(alert_id=alert_id), metadata=ingest.md("ingest:read")
            )
            return got.alert_event.suppressed, got.alert_event.suppression_window_id

        await routed(
            rule_pb.DECISION_KIND_SUPPRESSED, rule_events.ROUTING_CAUSE_ALERT_RECEIVED, window_id
        )

        async def suppressed() -> bool:
            return await state() == (True, window_id)

        await poll(suppressed)
        await routed(rule_pb.DECISION_KIND_ROUTED, rule_events.ROUTING_CAUSE_WINDOW_ENDED, "")

        async def released() -> bool:
            return await state() == (False, "")

        await poll(released)
    finally:
        await bus.close()
