"""Arrival-order independence of a series that flaps enough to be damped (issues 13, 18).

The other arrival-order scripts never reach the default damping threshold (5 state changes
in 30 minutes); these do: each seeded script is applied in occurrence order for a reference
tenant (damped in most cases) and in a random order, cut into random batches, for another;
after the quiet close the tickets are compared.

Found (not fixed): a late trigger that, in order, made the series flapping does not undo
the close of a reset that arrived before it, so the next trigger reopens the ticket once
more than in order: T1 R2 T3 R4 T5 R6 T7 arriving T3 R4 R6 T1 T5 T7 R2 (one at a time or
in batches) ends with the in-order occurrences, times and state but ``reopen_count`` 3
(in order 2) and one (closed, reopened) pair more (``OCRCRCR``, in order ``OCRCR``).
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from services.tickets import models
from services.tickets.events import alert_batch_handler, routed_alert
from tests.integration.tickets.harness import Harness, new_tenant
from tests.integration.tickets.scripts import flapping_script
from tests.integration.tickets.test_arrival_order import _brief, _from_steps, _outcome, _settings
from triage.runtime.events import ReceivedEvent
from triage.runtime.outbox import Inbox

pytestmark = pytest.mark.integration
CASES = 40


def _but_reopens(outcome: dict[str, Any]) -> dict[str, Any]:
    """``outcome``'s tickets without their reopen counts, and its opened count."""
    return {
        "tickets": [t[:7] for t in outcome["tickets"]],
        "opened": outcome["opened"],
    }


async def _damped_cases(harness: Harness, inbox: str) -> tuple[int, list[Any], list[Any]]:
    """Seeded flapping scripts (default settings: damping on), in order for a reference
    tenant and in a random order and batches for another, then settled: how many
    reference runs were damped, the cases whose tickets differ, and those that differ in
    more than reopen counts."""
    handle = alert_batch_handler(harness.db, Inbox(models.inbox, inbox), harness.service)
    rng = random.Random(1818)
    wrong: list[Any] = []
    beyond: list[Any] = []
    damped = 0
    for _ in range(CASES):
        steps = flapping_script(rng)
        order = list(range(len(steps)))
        rng.shuffle(order)
        cuts = sorted(rng.sample(range(1, len(steps)), rng.randint(0, len(steps) - 1)))
        reference, tenant = new_tenant(), new_tenant()
        for each in (reference, tenant):
            await harness.put_settings(each, _settings(None))
        for envelope in _from_steps(reference, steps):
            async with harness.db.transaction(reference) as session:
                await harness.service.on_alert(session, routed_alert(envelope))
        damped += any(t.flapping_since is not None for t in await harness.tickets(reference))
        script = _from_steps(tenant, steps)
        arrived = [script[i] for i in order]
        for start, end in itertools.pairwise([0, *cuts, len(arrived)]):
            await handle(
                [
                    ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
                    for e in arrived[start:end]
                ]
            )
        await harness.service.settle_flapping()
        want, got = await _outcome(harness, reference), await _outcome(harness, tenant)
        case = ("".join(k for k, _ in steps), order, cuts, _brief(want), _brief(got))
        if want["tickets"] != got["tickets"] or want["opened"] != got["opened"]:
            wrong.append(case)
        if _but_reopens(want) != _but_reopens(got):
            beyond.append(case)
    return damped, wrong, beyond


async def test_a_damped_series_gives_the_in_order_tickets_but_reopen_counts(
    harness: Harness,
) -> None:
    """Most seeded scripts are damped in order; in any order and batches every ticket has
    the in-order occurrences, times, state, close reason and series."""
    damped, _, beyond = await _damped_cases(harness, "tickets-order-flapping")
    assert damped >= CASES // 2
    assert not beyond, f"{len(beyond)} of {CASES} damped cases differ: {beyond}"


@pytest.mark.xfail(
    strict=True,
    reason="a late trigger that made its series flapping does not undo an earlier-arrived "
    "reset's close: one reopen more than in order (see the module docstring)",
)
async def test_a_damped_series_gives_the_in_order_reopen_counts(harness: Harness) -> None:
    """The same cases, reopen counts included."""
    _, wrong, _ = await _damped_cases(harness, "tickets-order-flapping-reopens")
    assert not wrong, f"{len(wrong)} of {CASES} damped cases differ: {wrong}"
