"""A batch's resets that find their ticket only by series do what one-at-a-time handling does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.tickets import models
from services.tickets.events import alert_batch_handler, routed_alert
from services.tickets.store import tickets as ticket_store
from tests.integration.tickets.harness import T0, Harness, new_tenant, routed
from tests.integration.tickets.test_batch import _order, _state
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.events import ReceivedEvent
from triage.runtime.outbox import Inbox

pytestmark = pytest.mark.integration
RESET = ingest_pb.ALERT_KIND_RESET


def _setup(tenant: str) -> list[Envelope]:
    """Open tickets before the batch: a1 (series p), a2 then a3 (both series q), a4 (r)."""
    return [
        routed(tenant, device=device, series=f"int-1:{series}", occurred=T0 + timedelta(seconds=i))
        for i, (device, series) in enumerate((("a1", "p"), ("a2", "q"), ("a3", "q"), ("a4", "r")))
    ]


def _batch(tenant: str) -> list[Envelope]:
    """Resets whose device differs from their trigger's (keys in handling order)."""
    at = T0 + timedelta(minutes=2)

    def reset(device: str, series: str, **kwargs: Any) -> Envelope:
        return routed(
            tenant, kind=RESET, device=device, series=f"int-1:{series}", occurred=at, **kwargs
        )

    return [
        # Closes a3 by its own key; then q's newest open ticket is a2 (kept open, twice).
        reset("a3", "q"),
        reset("d1", "q", close_on_reset=False),
        reset("d2", "q", close_on_reset=False),
        # An occurrence links a4 to series m in the batch; m's reset finds and closes it.
        routed(tenant, device="a4", series="int-1:m", occurred=T0 + timedelta(minutes=1)),
        reset("f1", "m"),
        # Found by series (read up front) and closed; the second reset finds nothing.
        reset("b1", "p"),
        reset("b2", "p"),
        # A ticket opened earlier in the batch is found by its series.
        routed(tenant, device="c1", series="int-1:n", occurred=T0 + timedelta(minutes=1)),
        reset("c2", "n", close_on_reset=False),
        reset("c3", "n"),
    ]


async def test_resets_found_by_series_in_a_batch_equal_one_at_a_time(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched, other, reference = new_tenant(), new_tenant(), new_tenant()
    for tenant in (batched, other, reference):
        for envelope in _setup(tenant):
            async with harness.db.transaction(tenant) as session:
                await harness.service.on_alert(session, routed_alert(envelope))
    for envelope in sorted(_batch(reference), key=_order):
        async with harness.db.transaction(reference) as session:
            await harness.service.on_alert(session, routed_alert(envelope))

    asked: list[str] = []
    one_lookup = ticket_store.open_ticket_for_series

    async def counted(session: Any, *, tenant_id: str, series_key: str) -> Any:
        asked.append(series_key)
        return await one_lookup(session, tenant_id=tenant_id, series_key=series_key)

    monkeypatch.setattr(ticket_store, "open_ticket_for_series", counted)
    handle = alert_batch_handler(
        harness.db, Inbox(models.inbox, "tickets-series-test"), harness.service
    )
    await handle(
        [
            ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
            for e in sorted(_batch(batched) + _batch(other), key=_order)
        ]
    )

    want = await _state(harness, reference)
    assert await _state(harness, batched) == want
    assert await _state(harness, other) == want
    assert want["events"]["ticket.closed"] == 4  # a3, a4, a1 and c1
    # Only where the newest ticket read up front was closed in the batch (q after a3, p
    # after a1) is the series looked up one alert at a time.
    assert sorted(asked) == sorted(["int-1:q", "int-1:q", "int-1:p"] * 2)
