"""One batch applies each series' alerts in occurrence order (issue 13).

A batch that holds a reset after a trigger of its series that occurred after it used to
apply them as they arrived: the trigger reopened the ticket (announced), then the reset,
late, took that reopen back with a close. In occurrence order the reset comes first and
nothing is taken back, as in the in-order run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from services.tickets import models
from services.tickets.domain.tickets import Damping, TenantSettings
from services.tickets.events import alert_batch_handler
from tests.integration.tickets.harness import T0, Harness, new_tenant, routed
from tests.integration.tickets.lifecycles import lifecycles
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.events import ReceivedEvent
from triage.runtime.outbox import Inbox

pytestmark = pytest.mark.integration
REOPENS = TenantSettings(reopen_within=timedelta(hours=1), damping=Damping(enabled=False))
#: Opens after 2 triggers within 10 minutes.
DELAY = (2, timedelta(minutes=10))


def _script(
    tenant: str, steps: Sequence[tuple[str, int]], persistence: tuple[int, timedelta] | None
) -> list[Envelope]:
    """``steps`` ((kind, minutes after T0)) as alerts of one series, numbered in order."""
    return [
        routed(
            tenant,
            kind=ingest_pb.ALERT_KIND_RESET if kind == "R" else ingest_pb.ALERT_KIND_TRIGGER,
            occurred=T0 + timedelta(minutes=minutes),
            sequence=i + 1,
            persistence=persistence,
        )
        for i, (kind, minutes) in enumerate(steps)
    ]


async def _run(
    harness: Harness,
    steps: Sequence[tuple[str, int]],
    batches: Sequence[Sequence[int]],
    persistence: tuple[int, timedelta] | None,
) -> list[tuple[int, bool, int, str]]:
    """A reopening tenant's ``steps`` handed to the alert consumer's batch handler in
    ``batches`` (indexes into ``steps``); per ticket its occurrences, whether open, reopen
    count and lifecycle word."""
    tenant = new_tenant()
    await harness.put_settings(tenant, REOPENS)
    handle = alert_batch_handler(
        harness.db, Inbox(models.inbox, "tickets-batch-occurrence"), harness.service
    )
    script = _script(tenant, steps, persistence)
    for batch in batches:
        await handle(
            [
                ReceivedEvent(envelope=script[i], subject="", headers={}, num_delivered=1)
                for i in batch
            ]
        )
    words = await lifecycles(harness, tenant)
    return sorted(
        (t.occurrence_count, t.is_open, t.reopen_count, words.get(t.id, ""))
        for t in await harness.tickets(tenant)
    )


@pytest.mark.parametrize(
    ("steps", "persistence", "head", "batch", "want"),
    [
        # T1 T2 open, R3 closes; T4 and T6 are split by R5: neither meets the delay.
        (
            [("T", 1), ("T", 2), ("R", 3), ("T", 4), ("R", 5), ("T", 6)],
            DELAY,
            [0, 1, 2, 3],
            [5, 4],
            [(2, False, 0, "OC")],
        ),
        # T1 opens, R2 closes, T3 reopens.
        ([("T", 1), ("R", 2), ("T", 3)], None, [0], [2, 1], [(2, True, 1, "OCR")]),
    ],
)
async def test_a_batch_with_a_reset_after_a_later_trigger_announces_the_in_order_events(
    harness: Harness,
    steps: Sequence[tuple[str, int]],
    persistence: tuple[int, timedelta] | None,
    head: Sequence[int],
    batch: Sequence[int],
    want: list[tuple[int, bool, int, str]],
) -> None:
    """The ``head`` alerts one batch each, then one batch holding a trigger and, after it,
    the reset that occurred before it: the tickets and their lifecycle events are the
    in-order run's."""
    in_order = await _run(harness, steps, [[i] for i in range(len(steps))], persistence)
    assert in_order == want
    assert await _run(harness, steps, [*([i] for i in head), batch], persistence) == want
