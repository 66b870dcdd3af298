"""What a late alert announces for a tenant that reopens (issue 13).

The ticket matches the in-order run whatever the arrival order; its lifecycle events
(opened, closed, reopened) are what downstream was told as things arrived, so they can
differ from the in-order run's in two ways only, pinned here (docs/DECISIONS.md, "Ordered
work across replicas"): a late trigger shows a close and reopen in the ticket's past that
is not announced now, and a late reset withdraws a reopen that was announced.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from services.tickets.domain.tickets import Damping, TenantSettings
from services.tickets.events import routed_alert
from tests.integration.tickets.harness import T0, Harness, new_tenant, routed
from tests.integration.tickets.lifecycles import lifecycles
from triage.ingest.v1 import resources_pb2 as ingest_pb

pytestmark = pytest.mark.integration
REOPENS = TenantSettings(reopen_within=timedelta(hours=1), damping=Damping(enabled=False))


async def _apply(
    harness: Harness,
    tenant: str,
    steps: Sequence[tuple[str, int]],
    order: Sequence[int],
    persistence: tuple[int, timedelta] | None = None,
) -> list[tuple[int, bool, int, str]]:
    """``steps`` ((kind, minutes after T0) of one series) applied one at a time in
    ``order``; per ticket its occurrences, whether open, reopen count and lifecycle word."""
    envelopes = [
        routed(
            tenant,
            kind=ingest_pb.ALERT_KIND_RESET if kind == "R" else ingest_pb.ALERT_KIND_TRIGGER,
            occurred=T0 + timedelta(minutes=minutes),
            sequence=i + 1,
            persistence=persistence,
        )
        for i, (kind, minutes) in enumerate(steps)
    ]
    for i in order:
        async with harness.db.transaction(tenant) as session:
            await harness.service.on_alert(session, routed_alert(envelopes[i]))
    words = await lifecycles(harness, tenant)
    return sorted(
        (t.occurrence_count, t.is_open, t.reopen_count, words.get(t.id, ""))
        for t in await harness.tickets(tenant)
    )


async def _in_order_and(
    harness: Harness,
    steps: Sequence[tuple[str, int]],
    order: Sequence[int],
    persistence: tuple[int, timedelta] | None = None,
) -> tuple[list[tuple[int, bool, int, str]], list[tuple[int, bool, int, str]]]:
    """``steps`` applied in occurrence order for one tenant and in ``order`` for another."""
    reference, tenant = new_tenant(), new_tenant()
    for each in (reference, tenant):
        await harness.put_settings(each, REOPENS)
    want = await _apply(harness, reference, steps, range(len(steps)), persistence)
    return want, await _apply(harness, tenant, steps, order, persistence)


async def test_a_late_trigger_does_not_announce_the_close_and_reopen_in_its_past(
    harness: Harness,
) -> None:
    """In order T1 opens, R2 closes, T3 reopens. T3 first opens the ticket, R2 finds
    nothing of its own to close, then T1 shows the close and reopen: the ticket counts
    the reopen, but announcing it now would close an open ticket (SLA clocks met, the
    alert reset in the RMM while it still fires), so no ``ticket.closed`` or
    ``ticket.reopened`` is sent."""
    want, got = await _in_order_and(harness, [("T", 1), ("R", 2), ("T", 3)], [2, 1, 0])
    assert want == [(2, True, 1, "OCR")]
    assert got == [(2, True, 1, "O")]


async def test_a_late_trigger_on_a_closed_ticket_announces_nothing_either(
    harness: Harness,
) -> None:
    """In order T1 opens, R2 closes, T3 reopens, R4 closes. Reversed, the ticket is
    closed by R4 before T1 shows the close and reopen between: a reopen and close sent
    now would start and complete SLA clocks and notify about a ticket no one reopened."""
    steps = [("T", 1), ("R", 2), ("T", 3), ("R", 4)]
    want, got = await _in_order_and(harness, steps, [3, 2, 1, 0])
    assert want == [(2, False, 1, "OCRC")]
    assert got == [(2, False, 1, "OC")]


async def test_a_late_reset_withdraws_an_announced_reopen(harness: Harness) -> None:
    """Under a delay of 2 triggers in 10 minutes: T1 T2 open, R3 closes; in order T4 and
    T6 are split by R5 and neither meets the delay. R5 last: T4 and T6 met it and
    reopened the ticket (announced), so R5 withdraws that reopen with a close: one
    (reopened, closed) pair more than in order, and the same ticket."""
    steps = [("T", 1), ("T", 2), ("R", 3), ("T", 4), ("R", 5), ("T", 6)]
    persistence = (2, timedelta(minutes=10))
    want, got = await _in_order_and(harness, steps, [0, 1, 2, 3, 5, 4], persistence)
    assert want == [(2, False, 0, "OC")]
    assert got == [(2, False, 0, "OCRC")]
