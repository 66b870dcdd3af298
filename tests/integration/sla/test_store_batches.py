"""The sla store's batch writes (one unnest statement each) store exactly what they are given."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.sla.domain.calendar_spec import default_calendar
from services.sla.domain.clock import Clock, ClockState, TargetKind
from services.sla.domain.codec import clock_to_json
from services.sla.domain.policy import (
    PolicySpec,
    ScopeKind,
    Snapshot,
    Target,
    Targets,
    ThresholdRule,
)
from services.sla.domain.ticket import (
    AuditEntry,
    AuditKind,
    ClockRecord,
    TicketFacts,
    TicketView,
)
from services.sla.models import SCHEMA, audit, outbox, timers
from services.sla.service import SlaService
from services.sla.service.time import ManualTime
from services.sla.store.audit import insert_audit, list_audit
from services.sla.store.clocks import clocks_for_update, get_clocks, save_clocks
from services.sla.store.tickets import insert_tickets, save_tickets, tickets_for_update
from services.sla.store.timers import set_timers
from services.sla.wiring import SPEC
from triage.runtime.db import Database, bind_tenants
from triage.runtime.migrations import upgrade
from triage.runtime.outbox import Outbox

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
POLICY = PolicySpec(
    id=str(uuid.uuid4()),
    name="24x7",
    scope=ScopeKind.TENANT_DEFAULT,
    targets=(Targets(3, Target(timedelta(hours=1), False), Target(timedelta(hours=4), False)),),
    thresholds=(ThresholdRule(50), ThresholdRule(100)),
)
SNAPSHOT = Snapshot(POLICY, default_calendar("Europe/Paris"))


@pytest.fixture
async def db(fresh_db: str) -> AsyncIterator[Database]:
    """A migrated sla database."""
    upgrade(fresh_db, schema=SCHEMA, script_location=str(SPEC.migrations))
    database = Database(fresh_db, schema=SCHEMA, pool_size=2)
    try:
        yield database
    finally:
        await database.dispose()


def _view(tenant: str, ticket_id: str | None = None, **facts: Any) -> TicketView:
    values: dict[str, Any] = {
        "ticket_id": ticket_id or str(uuid.uuid4()),
        "number": 1,
        "title": "disk low",
        "priority": 3,
        "status": 1,
        "client_id": "",
        "client_name": "",
        "queue": "",
        "assignee": "",
        "reopen_count": 0,
        "opened_at": T0,
        "updated_at": T0,
    }
    closed = facts.pop("closed", False)
    first_response_at = facts.pop("first_response_at", None)
    values.update(facts)
    return TicketView(
        tenant_id=tenant,
        facts=TicketFacts(**values),
        closed=closed,
        snapshot=SNAPSHOT,
        first_response_at=first_response_at,
    )


def _same_views(got: TicketView, want: TicketView) -> None:
    assert (got.tenant_id, got.facts, got.closed, got.first_response_at) == (
        want.tenant_id,
        want.facts,
        want.closed,
        want.first_response_at,
    )
    assert got.snapshot.policy.to_json() == want.snapshot.policy.to_json()
    assert got.snapshot.calendar.to_json() == want.snapshot.calendar.to_json()


async def test_ticket_projections_round_trip_across_tenants(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    shared = str(uuid.uuid4())  # one ticket id in both tenants: the tenant is part of the key
    views = [
        _view(a, shared, number=7, title='say "hi" \\ \u00e9t\u00e9', client_id="c-1"),
        _view(
            a,
            number=8,
            priority=1,
            status=4,
            queue="ops",
            assignee="bob",
            reopen_count=2,
            closed=True,
            first_response_at=T0 + timedelta(minutes=5),
        ),
        _view(b, shared, number=1, client_name="Acme", updated_at=T0 + timedelta(hours=1)),
    ]
    keys = [(v.tenant_id, v.facts.ticket_id) for v in views]
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        assert await insert_tickets(session, views=views) == set(keys)
        # A view already stored is skipped (and left as it is); the new one is inserted.
        late = _view(b, number=2)
        changed = dataclasses.replace(views[0], closed=True)
        assert await insert_tickets(session, views=[changed, late]) == {(b, late.facts.ticket_id)}
        loaded = await tickets_for_update(session, keys=keys)
    assert len(loaded) == 3
    for key, view in zip(keys, views, strict=True):
        _same_views(loaded[key], view)

    first = dataclasses.replace(
        views[0],
        closed=True,
        first_response_at=T0 + timedelta(minutes=1),
        facts=dataclasses.replace(views[0].facts, title="first", priority=2),
    )
    last = dataclasses.replace(
        first, facts=dataclasses.replace(first.facts, title="last", status=6, reopen_count=1)
    )
    reopened = dataclasses.replace(
        views[1],
        closed=False,
        first_response_at=None,
        facts=dataclasses.replace(views[1].facts, assignee="", queue="", number=80),
    )
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        # Several versions of one ticket: the last is stored.
        await save_tickets(session, views=[first, reopened, last])
        loaded = await tickets_for_update(session, keys=keys)
    _same_views(loaded[keys[0]], last)
    _same_views(loaded[keys[1]], reopened)
    _same_views(loaded[keys[2]], views[2])  # same ticket id, other tenant: untouched


def _clock(kind: TargetKind, *, at: datetime = T0, paused: bool = False) -> Clock:
    return Clock.start(
        kind=kind,
        target=timedelta(hours=1) if kind is TargetKind.FIRST_RESPONSE else timedelta(hours=4),
        calendar=SNAPSHOT.business,
        at=at,
        business_time=False,
        thresholds=(50, 100),
        paused=paused,
    )


def _stored(record: ClockRecord) -> tuple[Any, ...]:
    return (
        record.ticket_id,
        record.kind,
        clock_to_json(record.clock),
        record.fence,
        record.breached_at,
        record.breach_due_at,
        record.met_at,
    )


async def _timers(db: Database) -> dict[tuple[str, str, str], tuple[int, datetime, int]]:
    async with db.system_transaction() as session:
        rows = (await session.execute(select(timers))).all()
    return {(r.tenant_id, r.ticket_id, r.kind): (r.percent, r.due_at, r.fence) for r in rows}


async def test_clocks_timers_and_audit_round_trip_across_tenants(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    va, vb = _view(a), _view(b)
    ta, tb = va.facts.ticket_id, vb.facts.ticket_id
    running = ClockRecord(ticket_id=ta, clock=_clock(TargetKind.FIRST_RESPONSE), fence=1)
    breached = ClockRecord(
        ticket_id=ta,
        clock=_clock(TargetKind.RESOLUTION, at=T0 - timedelta(hours=5)).mark_fired(50),
        fence=7,
        breached_at=T0,
        breach_due_at=T0 - timedelta(hours=1),
    )
    paused = ClockRecord(ticket_id=tb, clock=_clock(TargetKind.RESOLUTION, paused=True), fence=2)
    met = ClockRecord(
        ticket_id=tb,
        clock=_clock(TargetKind.FIRST_RESPONSE).complete(T0 + timedelta(minutes=3)),
        fence=3,
        met_at=T0 + timedelta(minutes=3),
    )
    assert paused.clock.due_at is None and met.clock.state is ClockState.MET
    records = [(a, running), (a, breached), (b, paused), (b, met)]
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        await insert_tickets(session, views=[va, vb])
        await save_clocks(session, records=records)
        await set_timers(session, records=records)
        loaded = await clocks_for_update(session, views={(a, ta): va, (b, tb): vb})
    assert sorted(map(_stored, loaded[(a, ta)] + loaded[(b, tb)]), key=str) == sorted(
        (_stored(r) for _, r in records), key=str
    )
    # A running or breached-but-unfinished clock has a timer with its fence; a paused or
    # met one has none.
    assert await _timers(db) == {
        (a, ta, "first_response"): (50, T0 + timedelta(minutes=30), 1),
        (a, ta, "resolution"): (100, T0 - timedelta(hours=1), 7),
    }

    later = dataclasses.replace(running, clock=running.clock.mark_fired(50), fence=2)
    latest = dataclasses.replace(
        later, clock=later.clock.pause(T0 + timedelta(minutes=40)), fence=3
    )
    resumed = dataclasses.replace(
        paused, clock=paused.clock.resume(T0 + timedelta(hours=1)), fence=3
    )
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        # Two versions of one clock in one call: the last (paused) is stored; its timer goes.
        await save_clocks(session, records=[(a, later), (b, resumed), (a, latest)])
        await set_timers(session, records=[(a, latest), (b, resumed)])
        loaded = await clocks_for_update(session, views={(a, ta): va, (b, tb): vb})
    by_kind = {(r.ticket_id, r.kind): r for r in loaded[(a, ta)] + loaded[(b, tb)]}
    assert _stored(by_kind[(ta, TargetKind.FIRST_RESPONSE)]) == _stored(latest)
    assert _stored(by_kind[(tb, TargetKind.RESOLUTION)]) == _stored(resumed)
    assert _stored(by_kind[(ta, TargetKind.RESOLUTION)]) == _stored(breached)
    assert await _timers(db) == {
        (a, ta, "resolution"): (100, T0 - timedelta(hours=1), 7),
        (b, tb, "resolution"): (50, T0 + timedelta(hours=3), 3),
    }

    # As before these were one statement: a clock listed with and without a next threshold
    # keeps the timer of the record that has one.
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        await set_timers(session, records=[(b, resumed), (b, paused)])
    assert (b, tb, "resolution") in await _timers(db)

    entries = [
        (
            a,
            AuditEntry(
                id=str(uuid.uuid4()),
                ticket_id=ta,
                target_kind=TargetKind.FIRST_RESPONSE,
                kind=AuditKind.STARTED,
                cause="ticket opened",
                event_at=T0,
                cause_event_id="evt-1",
                after_state=ClockState.RUNNING,
                after_due_at=T0 + timedelta(hours=1),
            ),
        ),
        (
            b,
            AuditEntry(
                id=str(uuid.uuid4()),
                ticket_id=tb,
                target_kind=TargetKind.RESOLUTION,
                kind=AuditKind.PAUSED,
                cause="awaiting customer",
                event_at=T0 + timedelta(minutes=1),
                before_state=ClockState.RUNNING,
                after_state=ClockState.PAUSED,
                before_due_at=T0 + timedelta(hours=4),
            ),
        ),
        (
            a,
            AuditEntry(
                id=str(uuid.uuid4()),
                ticket_id=ta,
                target_kind=TargetKind.RESOLUTION,
                kind=AuditKind.BREACHED,
                cause="100% of the target used (fired late)",
                event_at=T0 + timedelta(minutes=2),
                before_state=ClockState.RUNNING,
                after_state=ClockState.BREACHED,
                percent=100,
                late=True,
            ),
        ),
    ]
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        await insert_audit(session, entries=entries)
        listed_a = await list_audit(session, tenant_id=a, ticket_id=ta, after_seq=0, limit=10)
        listed_b = await list_audit(session, tenant_id=b, ticket_id=tb, after_seq=0, limit=10)
    assert [e for _, e in listed_a] == [entries[0][1], entries[2][1]]
    assert [e for _, e in listed_b] == [entries[1][1]]
    # Appended in the order given.
    assert listed_a[0][0] < listed_b[0][0] < listed_a[1][0]


async def test_a_stale_timer_fires_nothing_and_is_refenced(db: Database) -> None:
    tenant = str(uuid.uuid4())
    view = _view(tenant)
    ticket_id = view.facts.ticket_id
    clock = ClockRecord(
        ticket_id=ticket_id,
        clock=_clock(TargetKind.RESOLUTION, at=T0 - timedelta(hours=5)),
        fence=5,
    )
    async with db.transaction(tenant) as session:
        await insert_tickets(session, views=[view])
        await save_clocks(session, records=[(tenant, clock)])
        # The timer a worker left before the clock moved on: an older fence.
        await set_timers(session, records=[(tenant, dataclasses.replace(clock, fence=4))])
    service = SlaService(db=db, outbox=Outbox(outbox), time=ManualTime(T0))
    key = (tenant, ticket_id, "resolution")

    stale = await service.fire_due()
    assert (stale.claimed, stale.fired) == (1, 0)
    assert await _timers(db) == {key: (50, T0 - timedelta(hours=3), 6)}
    async with db.transaction(tenant) as session:
        (record,) = await get_clocks(session, view=view)
        assert record.fence == 6 and record.breached_at is None and not record.clock.fired
        assert not (await session.execute(select(audit))).all()

    fired = await service.fire_due()
    assert (fired.claimed, fired.fired) == (1, 2)
    assert await _timers(db) == {}
    async with db.transaction(tenant) as session:
        (record,) = await get_clocks(session, view=view)
        listed = await list_audit(
            session, tenant_id=tenant, ticket_id=ticket_id, after_seq=0, limit=10
        )
    assert record.fence == 7
    assert (record.breached_at, record.breach_due_at) == (T0, T0 - timedelta(hours=1))
    assert [(e.kind, e.percent, e.late) for _, e in listed] == [
        (AuditKind.THRESHOLD, 50, True),
        (AuditKind.BREACHED, 100, True),
    ]
    assert (await service.fire_due()).claimed == 0
