"""One series' alerts give the same tickets whatever order they arrive in (issue 13).

Two gateway pods can post one series' webhooks to the stream out of occurrence order. The
script below (two triggers, a reset, two re-fires, a final reset) is published in the
occurrence order for a reference tenant and in seeded random permutations (plus the
orders an SRE probe found wrong) for other tenants, through NATS to the real consumers;
every tenant must end with the same tickets: occurrences, times, open or closed and why,
each ticket opened once and closed at most once. Ticket numbers follow arrival order, so
tickets are compared by their occurrences, not their numbers. Each ticket's lifecycle
events (opened, closed, reopened: ``lifecycles.py``) must match too, except for a tenant
that reopens, where they may differ only by the (closed, reopened) pairs a late alert
cannot announce or take back, counted exactly per seeded run (``lifecycles.Gap``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from services.tickets import models
from services.tickets.domain.tickets import Damping, TenantSettings
from services.tickets.events import alert_batch_handler, routed_alert
from tests.integration.tickets.harness import T0, Harness, new_tenant, poll, routed
from tests.integration.tickets.lifecycles import Gap, apart, assert_gap, lifecycles
from tests.integration.tickets.scripts import (
    any_order,
    late_triggers_order,
    random_script,
    spaced_script,
)
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.events import ReceivedEvent
from triage.runtime.outbox import Inbox

pytestmark = pytest.mark.integration
RESET = ingest_pb.ALERT_KIND_RESET
#: (kind, minutes after T0): triggers T1 T2, reset R1, re-fires T3 T4, final reset R2.
SCRIPT = (
    ("T", 1),
    ("T", 2),
    ("R", 3),
    ("T", 4),
    ("T", 5),
    ("R", 6),
)
#: Arrival orders (indexes into SCRIPT) the SRE probe reported, and the fully reversed one.
KNOWN = (
    (2, 0, 1, 3, 4, 5),  # the reset before its triggers
    (0, 2, 1, 3, 4, 5),  # T2 late: after the reset that closed its ticket
    (0, 1, 3, 2, 4, 5),  # T3 (a re-fire) before the reset it follows
    (0, 1, 3, 4, 5, 2),  # R1 last: one ticket held all four occurrences
    (5, 4, 3, 2, 1, 0),
)


def _settings(reopen_within: timedelta | None) -> TenantSettings:
    """The tenant settings of a case: ``None`` is the defaults (flap damping on, issue 18);
    a span is that ``reopen_within`` with damping off (the behaviour before damping)."""
    if reopen_within is None:
        return TenantSettings()
    return TenantSettings(reopen_within=reopen_within, damping=Damping(enabled=False))


def _reopens(reopen_within: timedelta | None) -> bool:
    """Whether a case's tenant reopens (``reopen_within``, or damping's window). Under
    damping a series may be flapping in occurrence order and not yet in another order (it
    counts the state changes it has seen): its one ticket stays open in one and closes in
    the other until the series is quiet, so damped cases compare after the quiet close."""
    return reopen_within is None or bool(reopen_within)


def _from_steps(
    tenant: str,
    steps: Sequence[tuple[str, int]],
    *,
    close_on_reset: bool | None = None,
    same_instant: bool = False,
    reset_device: str = "dev-1",
    persistence: tuple[int, timedelta] | None = None,
) -> list[Envelope]:
    """``steps`` ((kind, minutes after T0)) as alerts of one series, numbered in order;
    ``same_instant``: all at T0, ordered by their sequence alone; ``reset_device``: the
    device resets name (another one: they find their ticket by series alone);
    ``persistence``: the rule's persistence delay (count, within)."""
    return [
        routed(
            tenant,
            kind=RESET if kind == "R" else ingest_pb.ALERT_KIND_TRIGGER,
            device=reset_device if kind == "R" else "dev-1",
            occurred=T0 if same_instant else T0 + timedelta(minutes=minutes),
            sequence=i + 1,
            close_on_reset=close_on_reset,
            persistence=persistence,
        )
        for i, (kind, minutes) in enumerate(steps)
    ]


def _script(
    tenant: str, *, close_on_reset: bool | None, same_instant: bool = False
) -> list[Envelope]:
    return _from_steps(tenant, SCRIPT, close_on_reset=close_on_reset, same_instant=same_instant)


def _orders(count: int, seed: int) -> list[tuple[int, ...]]:
    """``KNOWN`` and ``count`` more distinct permutations drawn with ``seed``."""
    everything = list(itertools.permutations(range(len(SCRIPT))))
    rest = [p for p in everything if p not in KNOWN and p != tuple(range(len(SCRIPT)))]
    return [*KNOWN, *random.Random(seed).sample(rest, count)]


async def _outcome(harness: Harness, tenant: str) -> dict[str, Any]:
    """The tenant's tickets, its opened and closed event counts, and each ticket's
    lifecycle word (``lifecycles.py``; in the tickets' order)."""
    words = await lifecycles(harness, tenant)
    rows = sorted(
        (
            (
                t.occurrence_count,
                t.first_occurrence_at,
                t.last_occurrence_at,
                t.is_open,
                t.status,
                t.close_reason,
                t.linked_series_keys,
                t.reopen_count,
            ),
            words.get(t.id, ""),
        )
        for t in await harness.tickets(tenant)
    )
    return {
        "tickets": [row for row, _ in rows],
        "opened": len(await harness.events(tenant, "ticket.opened")),
        "closed": len(await harness.events(tenant, "ticket.closed")),
        "words": [word for _, word in rows],
    }


def _brief(outcome: dict[str, Any]) -> list[Any]:
    """An outcome as a short text: per ticket its occurrences (minutes after T0), open or
    closed and reopen count; then the event counts."""
    tickets = [
        (t[0], f"{t[1]:%M}-{t[2]:%M}", "open" if t[3] else "closed", t[7] if len(t) > 7 else "-")
        for t in outcome["tickets"]
    ]
    return [tickets, {k: v for k, v in outcome.items() if k != "tickets"}]


async def _publish_all(harness: Harness, scripts: Sequence[Sequence[Envelope]]) -> None:
    """Publish each script in its order, then wait until a replica handled every event."""
    pending = [e for script in scripts for e in script]
    for envelope in pending:
        await harness.publish(envelope)

    async def drained() -> bool:
        nonlocal pending
        pending = [e for e in pending if not await harness.handled(e.tenant_id, e.event_id)]
        return not pending

    await poll(drained, timeout=60.0)


@pytest.mark.parametrize(
    ("close_on_reset", "reopen_within", "sampled", "gap"),
    [
        (None, timedelta(0), 40, (0, 0)),
        (False, timedelta(0), 12, (0, 0)),
        (None, timedelta(hours=1), 24, (7, 0)),
        (None, None, 24, (7, 0)),
    ],
)
async def test_any_arrival_order_gives_the_in_order_tickets(
    harness: Harness,
    close_on_reset: bool | None,
    reopen_within: timedelta | None,
    sampled: int,
    gap: tuple[int, int],
) -> None:
    """Every order gives the in-order tickets; a tenant that reopens is told of
    ``gap`` (closed, reopened) pairs fewer and more, each explained (``lifecycles.Gap``)."""
    orders = _orders(sampled, seed=13)
    reference, *tenants = [new_tenant() for _ in range(len(orders) + 1)]
    for tenant in (reference, *tenants):
        await harness.put_settings(tenant, _settings(reopen_within))
    await _publish_all(harness, [_script(reference, close_on_reset=close_on_reset)])
    want = await _outcome(harness, reference)
    shape = [(n, open_, reopened) for n, _, _, open_, *_, reopened in want["tickets"]]
    if close_on_reset is False:
        assert shape == [(4, True, 0)]
    elif reopen_within is None or reopen_within:
        # In order: T1 opens, R1 closes, T3 reopens (within the window), R2 closes.
        assert shape == [(4, False, 1)]
    else:
        # In order: (T1, T2) closed by R1, then (T3, T4) closed by R2.
        assert shape == [(2, False, 0)] * 2
        assert (want["opened"], want["closed"]) == (2, 2)

    scripts = []
    for tenant, order in zip(tenants, orders, strict=True):
        script = _script(tenant, close_on_reset=close_on_reset)
        scripts.append([script[i] for i in order])
    await _publish_all(harness, scripts)
    kinds = "".join(kind for kind, _ in SCRIPT)
    wrong, differ = [], []
    for tenant, order in zip(tenants, orders, strict=True):
        got, expected = await _outcome(harness, tenant), want
        if _reopens(reopen_within):
            expected, got, found = apart(want, got, kinds, order)
            differ += found
        if got != expected:
            wrong.append((order, _brief(got)))
    assert not wrong, f"{len(wrong)} of {len(orders)} orders differ from {_brief(want)}: {wrong}"
    assert_gap(differ, gap)


@pytest.mark.parametrize("same_instant", [False, True])
async def test_many_orders_in_one_batch_and_one_at_a_time(
    harness: Harness, same_instant: bool
) -> None:
    """A seeded sample of the 720 orders through the batch handler (one batch each), and
    another one alert per transaction; both paths must give the in-order tickets."""
    reference = new_tenant()
    await harness.put_settings(reference, _settings(timedelta(0)))
    for envelope in _script(reference, close_on_reset=None, same_instant=same_instant):
        async with harness.db.transaction(reference) as session:
            await harness.service.on_alert(session, routed_alert(envelope))
    want = await _outcome(harness, reference)
    handle = alert_batch_handler(
        harness.db, Inbox(models.inbox, "tickets-order-test"), harness.service
    )
    every = list(itertools.permutations(range(len(SCRIPT))))
    orders = random.Random(7).sample(every, 120)
    one_at_a_time = set(orders[:30])
    wrong = []
    for order in orders:
        tenant = new_tenant()
        await harness.put_settings(tenant, _settings(timedelta(0)))
        script = _script(tenant, close_on_reset=None, same_instant=same_instant)
        arrived = [script[i] for i in order]
        if order in one_at_a_time:
            for envelope in arrived:
                async with harness.db.transaction(tenant) as session:
                    await harness.service.on_alert(session, routed_alert(envelope))
        else:
            await handle(
                [
                    ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
                    for e in arrived
                ]
            )
        if (got := await _outcome(harness, tenant)) != want:
            wrong.append((order, _brief(got)))
    assert not wrong, f"{len(wrong)} of {len(orders)} orders differ from {_brief(want)}: {wrong}"


@pytest.mark.parametrize(
    ("close_on_reset", "reopen_within", "reset_device", "gap"),
    [
        (None, timedelta(0), "dev-1", (0, 0)),
        (False, timedelta(0), "dev-1", (0, 0)),
        (None, timedelta(hours=1), "dev-1", (21, 0)),
        (None, timedelta(0), "elsewhere", (0, 0)),
        (None, None, "dev-1", (21, 0)),
    ],
)
async def test_random_scripts_in_random_orders_and_batches(
    harness: Harness,
    close_on_reset: bool | None,
    reopen_within: timedelta | None,
    reset_device: str,
    gap: tuple[int, int],
) -> None:
    """Seeded random scripts, each applied in order for a reference tenant and in a random
    order, cut into random batches, for another: the same tickets."""
    handle = alert_batch_handler(
        harness.db, Inbox(models.inbox, "tickets-order-random"), harness.service
    )
    rng = random.Random(1313)
    wrong: list[Any] = []
    differ: list[Gap] = []
    for _ in range(100):
        steps = random_script(rng)
        if not steps:
            continue
        order = list(range(len(steps)))
        rng.shuffle(order)
        cuts = sorted(rng.sample(range(1, len(steps)), rng.randint(0, len(steps) - 1)))
        reference, tenant = new_tenant(), new_tenant()
        for each in (reference, tenant):
            await harness.put_settings(each, _settings(reopen_within))
        for envelope in _from_steps(
            reference, steps, close_on_reset=close_on_reset, reset_device=reset_device
        ):
            async with harness.db.transaction(reference) as session:
                await harness.service.on_alert(session, routed_alert(envelope))
        script = _from_steps(
            tenant, steps, close_on_reset=close_on_reset, reset_device=reset_device
        )
        arrived = [script[i] for i in order]
        for start, end in itertools.pairwise([0, *cuts, len(arrived)]):
            await handle(
                [
                    ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
                    for e in arrived[start:end]
                ]
            )
        if reopen_within is None:
            await harness.service.settle_flapping()  # see _reopens
        want, got = await _outcome(harness, reference), await _outcome(harness, tenant)
        kinds = "".join(kind for kind, _ in steps)
        if _reopens(reopen_within):
            want, got, found = apart(want, got, kinds, order)
            differ += found
        if got != want:
            wrong.append((kinds, order, cuts, _brief(want), _brief(got)))
    assert not wrong, f"{len(wrong)} random cases differ: {wrong}"
    assert_gap(differ, gap)


#: (close_on_reset, reopen_within); and for the late-triggers test and the any-order test
#: the (closed, reopened) pairs announced fewer and more than in order (``lifecycles``) in
#: one run (documentation: only their kind is asserted, see ``assert_gap``).
PERSISTENCE_CASES = [
    (None, timedelta(0), (0, 0), (0, 0)),
    (False, timedelta(0), (0, 0), (0, 0)),
    (None, timedelta(hours=1), (0, 0), (26, 0)),
    (None, None, (0, 0), (26, 0)),
]


async def _persistence_cases(
    harness: Harness,
    *,
    close_on_reset: bool | None,
    reopen_within: timedelta | None,
    seed: int,
    cases: int,
    arrival: Callable[[Sequence[tuple[str, int]], random.Random], list[int]],
) -> tuple[list[Any], int, list[Gap]]:
    """Seeded ``spaced_script`` cases under a delay of 2 triggers in 10 minutes, each
    applied in order for a reference tenant and in the ``arrival`` order, cut into random
    batches, for another; the cases whose tickets differ, and how many tickets were
    withdrawn (see ``_without_withdrawn``)."""
    persistence = (2, timedelta(minutes=10))
    handle = alert_batch_handler(
        harness.db, Inbox(models.inbox, "tickets-order-persistence"), harness.service
    )
    rng = random.Random(seed)
    wrong: list[Any] = []
    differ: list[Gap] = []
    withdrawn = 0
    for _ in range(cases):
        steps = spaced_script(rng)
        if not steps:
            continue
        order = arrival(steps, rng)
        cuts = sorted(rng.sample(range(1, len(steps)), rng.randint(0, len(steps) - 1)))
        reference, tenant = new_tenant(), new_tenant()
        for each in (reference, tenant):
            await harness.put_settings(each, _settings(reopen_within))
        for envelope in _from_steps(
            reference, steps, close_on_reset=close_on_reset, persistence=persistence
        ):
            async with harness.db.transaction(reference) as session:
                await harness.service.on_alert(session, routed_alert(envelope))
        script = _from_steps(tenant, steps, close_on_reset=close_on_reset, persistence=persistence)
        arrived = [script[i] for i in order]
        for start, end in itertools.pairwise([0, *cuts, len(arrived)]):
            await handle(
                [
                    ReceivedEvent(envelope=e, subject="", headers={}, num_delivered=1)
                    for e in arrived[start:end]
                ]
            )
        if reopen_within is None:
            await harness.service.settle_flapping()  # see _reopens
        want, got = await _outcome(harness, reference), await _outcome(harness, tenant)
        withdrawn += len(got["tickets"])
        got = _without_withdrawn(got)
        withdrawn -= len(got["tickets"])
        if _reopens(reopen_within):
            want, got, found = apart(want, got, "".join(k for k, _ in steps), order)
            differ += found
        if got != want:
            wrong.append((steps, order, cuts, _brief(want), _brief(got)))
    return wrong, withdrawn, differ


def _without_withdrawn(outcome: dict[str, Any]) -> dict[str, Any]:
    """``outcome`` without its withdrawn tickets (no occurrence left: a late reset showed
    that in order the delay was never met around it) and their open and close events.

    Such a ticket opened before the reset that breaks its window arrived; its
    ``ticket.opened`` was sent and cannot be taken back, so it stays, closed, with no
    occurrences. Every other ticket and event must match the in-order run."""
    kept = [i for i, t in enumerate(outcome["tickets"]) if t[0] > 0]
    gone = len(outcome["tickets"]) - len(kept)
    return {
        "tickets": [outcome["tickets"][i] for i in kept],
        "opened": outcome["opened"] - gone,
        "closed": outcome["closed"] - gone,
        "words": [outcome["words"][i] for i in kept],
    }


@pytest.mark.parametrize(("close_on_reset", "reopen_within", "gap", "_"), PERSISTENCE_CASES)
async def test_late_triggers_under_a_persistence_delay(
    harness: Harness,
    close_on_reset: bool | None,
    reopen_within: timedelta | None,
    gap: tuple[int, int],
    _: tuple[int, int],
) -> None:
    """A rule that opens a ticket only after 2 triggers in 10 minutes: a trigger that
    arrives after the reset that followed it counts towards the delay as it would have in
    order (it was dropped), so seeded random scripts give the in-order tickets in random
    orders and batches where only triggers arrive late."""
    wrong, withdrawn, differ = await _persistence_cases(
        harness,
        close_on_reset=close_on_reset,
        reopen_within=reopen_within,
        seed=2024,
        cases=60,
        arrival=late_triggers_order,
    )
    assert withdrawn == 0  # no reset arrives late here: no ticket opens too early
    assert not wrong, f"{len(wrong)} random cases differ: {wrong}"
    assert_gap(differ, gap)


@pytest.mark.parametrize(("close_on_reset", "reopen_within", "_", "gap"), PERSISTENCE_CASES)
async def test_any_order_under_a_persistence_delay(
    harness: Harness,
    close_on_reset: bool | None,
    reopen_within: timedelta | None,
    _: tuple[int, int],
    gap: tuple[int, int],
) -> None:
    """The same delay with every event free to arrive anywhere: a trigger before older
    triggers of its stretch, a reset after triggers that followed it (also when a delay
    window already counted a trigger from before it). Seeded random scripts in random
    permutations and batches give the in-order tickets."""
    wrong, withdrawn, differ = await _persistence_cases(
        harness,
        close_on_reset=close_on_reset,
        reopen_within=reopen_within,
        seed=4242,
        cases=300,
        arrival=any_order,
    )
    assert not wrong, f"{len(wrong)} random cases differ ({withdrawn} withdrawn): {wrong}"
    assert_gap(differ, gap)
