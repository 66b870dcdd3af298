"""Queries over the ``sla`` schema; callers own the transaction (nothing here commits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

from psycopg.types.json import Jsonb
from sqlalchemy import and_, delete, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.clock import ClockState, TargetKind
from services.sla.domain.codec import clock_from_json, clock_to_json
from services.sla.domain.policy import (
    CalendarSpec,
    HolidayRule,
    HolidaySetRule,
    PolicySpec,
    ScopeKind,
    Snapshot,
    shift_from_json,
    shift_to_json,
)
from services.sla.domain.ticket import (
    AuditEntry,
    AuditKind,
    BreachView,
    ClockRecord,
    TicketFacts,
    TicketView,
)
from services.sla.models import (
    SCHEMA,
    audit,
    calendars,
    clocks,
    holidays,
    policies,
    tenants,
    tickets,
    timers,
)
from triage.runtime import fetch_together, raw_cursor, select_list

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stored(Generic[T]):
    """A stored resource with its timestamps."""

    value: T
    created_at: datetime
    updated_at: datetime


def _after(first: Any, second: Any, position: tuple[Any, Any]) -> Any:
    """``(first, second) > position`` with the values typed as the columns."""
    return tuple_(first, second) > tuple_(
        literal(position[0], type_=first.type), literal(position[1], type_=second.type)
    )


# --- tenants -----------------------------------------------------------------------------------


async def tenant_zone(session: AsyncSession, *, tenant_id: str) -> str | None:
    """The tenant's IANA zone, if a ``tenant.changed`` event told us."""
    return (
        await session.execute(select(tenants.c.time_zone).where(tenants.c.tenant_id == tenant_id))
    ).scalar_one_or_none()


async def save_tenant_zone(session: AsyncSession, *, tenant_id: str, zone: str) -> None:
    """Record the tenant's zone."""
    await session.execute(
        insert(tenants)
        .values(tenant_id=tenant_id, time_zone=zone)
        .on_conflict_do_update(
            index_elements=[tenants.c.tenant_id],
            set_={"time_zone": zone, "updated_at": func.now()},
        )
    )


# --- calendars ---------------------------------------------------------------------------------


def _time_or_none(text: str | None) -> time | None:
    return None if text is None else time.fromisoformat(text)


def _holiday_values(tenant_id: str, calendar_id: str, holiday: HolidayRule) -> dict[str, Any]:
    return {
        "id": holiday.id,
        "tenant_id": tenant_id,
        "calendar_id": calendar_id,
        "display_name": holiday.name,
        "day": holiday.day,
        "yearly_month": holiday.yearly[0] if holiday.yearly else None,
        "yearly_day": holiday.yearly[1] if holiday.yearly else None,
        "closed_start": holiday.closed_start.isoformat() if holiday.closed_start else None,
        "closed_end": holiday.closed_end.isoformat() if holiday.closed_end else None,
    }


def _holiday(row: Any) -> HolidayRule:
    return HolidayRule(
        id=row.id,
        name=row.display_name,
        day=row.day,
        yearly=(row.yearly_month, row.yearly_day) if row.yearly_month else None,
        closed_start=_time_or_none(row.closed_start),
        closed_end=_time_or_none(row.closed_end),
    )


def _calendar(row: Any, rules: Sequence[HolidayRule]) -> Stored[CalendarSpec]:
    spec = CalendarSpec(
        id=row.id,
        name=row.display_name,
        zone=row.time_zone,
        always_open=row.always_open,
        shifts=tuple(shift_from_json(s) for s in row.shifts),
        holidays=tuple(rules),
        holiday_sets=tuple(
            HolidaySetRule(h["country"], h["subdivision"], tuple(h["categories"]))
            for h in row.holiday_sets
        ),
        version=row.version,
    )
    return Stored(spec, row.created_at, row.updated_at)


def _calendar_values(spec: CalendarSpec) -> dict[str, Any]:
    return {
        "display_name": spec.name,
        "time_zone": spec.zone,
        "always_open": spec.always_open,
        "shifts": [shift_to_json(s) for s in spec.shifts],
        "holiday_sets": [
            {"country": h.country, "subdivision": h.subdivision, "categories": list(h.categories)}
            for h in spec.holiday_sets
        ],
    }


async def insert_calendar(
    session: AsyncSession, *, tenant_id: str, spec: CalendarSpec, at: datetime
) -> None:
    """Insert a calendar (version 1) with its holidays."""
    await session.execute(
        calendars.insert().values(
            id=spec.id,
            tenant_id=tenant_id,
            version=1,
            created_at=at,
            updated_at=at,
            **_calendar_values(spec),
        )
    )
    await _insert_holidays(session, tenant_id, spec.id, spec.holidays)


async def _insert_holidays(
    session: AsyncSession, tenant_id: str, calendar_id: str, rules: Sequence[HolidayRule]
) -> None:
    if rules:
        await session.execute(
            holidays.insert(), [_holiday_values(tenant_id, calendar_id, h) for h in rules]
        )


async def _holidays_of(
    session: AsyncSession, tenant_id: str, calendar_ids: Sequence[str]
) -> dict[str, list[HolidayRule]]:
    found: dict[str, list[HolidayRule]] = {c: [] for c in calendar_ids}
    if not calendar_ids:
        return found
    rows = await session.execute(
        select(holidays)
        .where(holidays.c.tenant_id == tenant_id, holidays.c.calendar_id.in_(calendar_ids))
        .order_by(holidays.c.seq)
    )
    for row in rows:
        found[row.calendar_id].append(_holiday(row))
    return found


async def get_calendar(
    session: AsyncSession, *, tenant_id: str, calendar_id: str, lock: bool = False
) -> Stored[CalendarSpec] | None:
    """One calendar with its holidays (``lock``: FOR UPDATE)."""
    query = select(calendars).where(
        calendars.c.tenant_id == tenant_id, calendars.c.id == calendar_id
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    return _calendar(row, (await _holidays_of(session, tenant_id, [calendar_id]))[calendar_id])


async def list_calendars(
    session: AsyncSession, *, tenant_id: str, after: tuple[datetime, str] | None, limit: int
) -> list[Stored[CalendarSpec]]:
    """Calendars in creation order after the keyset position ``after``."""
    query = select(calendars).where(calendars.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(_after(calendars.c.created_at, calendars.c.id, after))
    rows = (
        await session.execute(query.order_by(calendars.c.created_at, calendars.c.id).limit(limit))
    ).all()
    rules = await _holidays_of(session, tenant_id, [r.id for r in rows])
    return [_calendar(r, rules[r.id]) for r in rows]


async def replace_calendar(
    session: AsyncSession, *, tenant_id: str, spec: CalendarSpec, at: datetime
) -> None:
    """Store ``spec`` (its version already bumped) and its holidays in place of the old."""
    await session.execute(
        update(calendars)
        .where(calendars.c.tenant_id == tenant_id, calendars.c.id == spec.id)
        .values(version=spec.version, updated_at=at, **_calendar_values(spec))
    )
    await session.execute(
        delete(holidays).where(holidays.c.tenant_id == tenant_id, holidays.c.calendar_id == spec.id)
    )
    await _insert_holidays(session, tenant_id, spec.id, spec.holidays)


async def delete_calendar(session: AsyncSession, *, tenant_id: str, calendar_id: str) -> None:
    """Delete a calendar (its holidays go with it)."""
    await session.execute(
        delete(calendars).where(calendars.c.tenant_id == tenant_id, calendars.c.id == calendar_id)
    )


async def calendar_in_use(session: AsyncSession, *, tenant_id: str, calendar_id: str) -> bool:
    """Whether a policy uses the calendar."""
    found = await session.execute(
        select(policies.c.id)
        .where(policies.c.tenant_id == tenant_id, policies.c.calendar_id == calendar_id)
        .limit(1)
    )
    return found.first() is not None


# --- policies ----------------------------------------------------------------------------------


def _policy(row: Any) -> Stored[PolicySpec]:
    spec = PolicySpec.from_json({**row.spec, "id": row.id, "version": row.version})
    return Stored(spec, row.created_at, row.updated_at)


def _policy_values(spec: PolicySpec) -> dict[str, Any]:
    return {
        "display_name": spec.name,
        "scope_kind": int(spec.scope),
        "client_id": spec.client_id if spec.scope is ScopeKind.CLIENT else "",
        "queue": spec.queue if spec.scope is ScopeKind.QUEUE else "",
        "calendar_id": spec.calendar_id or None,
        "spec": spec.to_json(),
    }


async def insert_policy(
    session: AsyncSession, *, tenant_id: str, spec: PolicySpec, at: datetime
) -> None:
    """Insert a policy (version 1)."""
    await session.execute(
        policies.insert().values(
            id=spec.id,
            tenant_id=tenant_id,
            version=1,
            created_at=at,
            updated_at=at,
            **_policy_values(spec),
        )
    )


async def get_policy(
    session: AsyncSession, *, tenant_id: str, policy_id: str, lock: bool = False
) -> Stored[PolicySpec] | None:
    """One policy (``lock``: FOR UPDATE)."""
    query = select(policies).where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    return None if row is None else _policy(row)


async def list_policies(
    session: AsyncSession,
    *,
    tenant_id: str,
    scope: ScopeKind,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Stored[PolicySpec]]:
    """Policies in creation order after ``after``, optionally of one scope kind."""
    query = select(policies).where(policies.c.tenant_id == tenant_id)
    if scope is not ScopeKind.UNSPECIFIED:
        query = query.where(policies.c.scope_kind == int(scope))
    if after is not None:
        query = query.where(_after(policies.c.created_at, policies.c.id, after))
    rows = await session.execute(query.order_by(policies.c.created_at, policies.c.id).limit(limit))
    return [_policy(r) for r in rows]


async def replace_policy(
    session: AsyncSession, *, tenant_id: str, spec: PolicySpec, at: datetime
) -> None:
    """Store ``spec`` (its version already bumped) in place of the old."""
    await session.execute(
        update(policies)
        .where(policies.c.tenant_id == tenant_id, policies.c.id == spec.id)
        .values(version=spec.version, updated_at=at, **_policy_values(spec))
    )


async def delete_policy(session: AsyncSession, *, tenant_id: str, policy_id: str) -> None:
    """Delete a policy; running clocks keep their snapshot."""
    await session.execute(
        delete(policies).where(policies.c.tenant_id == tenant_id, policies.c.id == policy_id)
    )


async def candidate_policies(
    session: AsyncSession, *, tenant_id: str, client_id: str, queue: str
) -> list[PolicySpec]:
    """The policies that could apply to a ticket of ``client_id`` in ``queue``."""
    rows = await session.execute(
        select(policies).where(
            policies.c.tenant_id == tenant_id,
            or_(
                policies.c.scope_kind == int(ScopeKind.TENANT_DEFAULT),
                and_(
                    policies.c.scope_kind == int(ScopeKind.CLIENT),
                    policies.c.client_id == client_id,
                ),
                and_(policies.c.scope_kind == int(ScopeKind.QUEUE), policies.c.queue == queue),
            ),
        )
    )
    return [_policy(r).value for r in rows]


# --- tickets and clocks ------------------------------------------------------------------------


def _facts(row: Any) -> TicketFacts:
    return TicketFacts(
        ticket_id=row.ticket_id,
        number=row.number,
        title=row.title,
        priority=row.priority,
        status=row.status,
        client_id=row.client_id,
        client_name=row.client_name,
        queue=row.queue,
        assignee=row.assignee,
        reopen_count=row.reopen_count,
        opened_at=row.opened_at,
        updated_at=row.ticket_updated_at,
    )


def _facts_values(facts: TicketFacts) -> dict[str, Any]:
    return {
        "number": facts.number,
        "title": facts.title,
        "priority": facts.priority,
        "status": facts.status,
        "client_id": facts.client_id,
        "client_name": facts.client_name,
        "queue": facts.queue,
        "assignee": facts.assignee,
        "reopen_count": facts.reopen_count,
        "opened_at": facts.opened_at,
        "ticket_updated_at": facts.updated_at,
    }


def _view(row: Any) -> TicketView:
    return TicketView(
        tenant_id=row.tenant_id,
        facts=_facts(row),
        closed=row.closed,
        snapshot=Snapshot(
            PolicySpec.from_json(row.policy_snapshot), CalendarSpec.from_json(row.calendar_snapshot)
        ),
        first_response_at=row.first_response_at,
    )


async def get_ticket(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, lock: bool = False
) -> TicketView | None:
    """The ticket projection (``lock``: FOR UPDATE, the per-ticket lock of every change)."""
    query = select(tickets).where(
        tickets.c.tenant_id == tenant_id, tickets.c.ticket_id == ticket_id
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    return None if row is None else _view(row)


async def get_ticket_by_number(
    session: AsyncSession, *, tenant_id: str, number: int
) -> TicketView | None:
    """The ticket projection by the ticket's per-tenant number (``#1042``)."""
    row = (
        await session.execute(
            select(tickets).where(tickets.c.tenant_id == tenant_id, tickets.c.number == number)
        )
    ).first()
    return None if row is None else _view(row)


async def insert_ticket(session: AsyncSession, *, view: TicketView) -> bool:
    """Insert the projection with its snapshot; False if a concurrent handler was first."""
    snapshot = view.snapshot
    result = await session.execute(
        insert(tickets)
        .values(
            tenant_id=view.tenant_id,
            ticket_id=view.facts.ticket_id,
            closed=view.closed,
            first_response_at=view.first_response_at,
            policy_id=snapshot.policy.id,
            policy_version=snapshot.policy.version,
            calendar_id=snapshot.calendar.id,
            calendar_version=snapshot.calendar.version,
            policy_snapshot=snapshot.policy.to_json(),
            calendar_snapshot=snapshot.calendar.to_json(),
            **_facts_values(view.facts),
        )
        .on_conflict_do_nothing()
        .returning(tickets.c.ticket_id)
    )
    return result.first() is not None


async def save_ticket(session: AsyncSession, *, view: TicketView) -> None:
    """Store the projection's mutable fields (the snapshot never changes)."""
    await session.execute(
        update(tickets)
        .where(tickets.c.tenant_id == view.tenant_id, tickets.c.ticket_id == view.facts.ticket_id)
        .values(
            closed=view.closed,
            first_response_at=view.first_response_at,
            **_facts_values(view.facts),
        )
    )


def _record(row: Any, view_calendar: Any) -> ClockRecord:
    return ClockRecord(
        ticket_id=row.ticket_id,
        clock=clock_from_json(row.data, view_calendar),
        fence=row.fence,
        breached_at=row.breached_at,
        breach_due_at=row.breach_due_at,
        met_at=row.met_at,
    )


async def get_clocks(
    session: AsyncSession, *, view: TicketView, lock: bool = False
) -> list[ClockRecord]:
    """The ticket's clocks, first response first."""
    query = select(clocks).where(
        clocks.c.tenant_id == view.tenant_id, clocks.c.ticket_id == view.facts.ticket_id
    )
    if lock:
        query = query.with_for_update()
    rows = (await session.execute(query.order_by(clocks.c.kind))).all()
    calendar = view.snapshot.business
    return [_record(r, calendar) for r in rows]


def _unnest(columns: Sequence[tuple[str, str]], prefix: str = "") -> str:
    """``unnest(%(a)b::uuid[], ...)`` over ``(name, type)`` columns, each one array param."""
    return "unnest(" + ", ".join(f"%({prefix}{n})b::{t}[]" for n, t in columns) + ")"


def _names(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(name for name, _ in columns)


# Batch writes: one statement whatever the row count, columns travelling as arrays that are
# unnest()ed. The texts are fixed, so they are parsed (and can be prepared) once, and each
# call is one round trip with no per-row work beyond building the arrays. They run on the
# session's connection (``raw_cursor``): same transaction, same bound tenants.

_CLOCK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "uuid"),
    ("ticket_id", "uuid"),
    ("kind", "text"),
    ("state", "text"),
    ("data", "jsonb"),
    ("due_at", "timestamptz"),
    ("breached_at", "timestamptz"),
    ("breach_due_at", "timestamptz"),
    ("met_at", "timestamptz"),
    ("fence", "bigint"),
)
_SAVE_CLOCKS = (
    f"INSERT INTO {SCHEMA}.clocks ({_names(_CLOCK_COLUMNS)}) "
    f"SELECT * FROM {_unnest(_CLOCK_COLUMNS)} "
    "ON CONFLICT (tenant_id, ticket_id, kind) DO UPDATE SET "
    + ", ".join(f"{n} = EXCLUDED.{n}" for n, _ in _CLOCK_COLUMNS[3:])
    + ", updated_at = now()"
)

_TIMER_KEY: tuple[tuple[str, str], ...] = (
    ("tenant_id", "uuid"),
    ("ticket_id", "uuid"),
    ("kind", "text"),
)
_TIMER_COLUMNS = (
    *_TIMER_KEY,
    ("percent", "smallint"),
    ("due_at", "timestamptz"),
    ("fence", "bigint"),
)
# Drops and upserts in one statement. The data-modifying CTE always runs to completion; the
# caller passes disjoint keys, so the DELETE and the INSERT never touch the same row.
_SET_TIMERS = (
    f"WITH dropped AS (DELETE FROM {SCHEMA}.timers AS t "
    f"USING {_unnest(_TIMER_KEY, 'drop_')} AS d({_names(_TIMER_KEY)}) "
    "WHERE t.tenant_id = d.tenant_id AND t.ticket_id = d.ticket_id AND t.kind = d.kind) "
    f"INSERT INTO {SCHEMA}.timers ({_names(_TIMER_COLUMNS)}) "
    f"SELECT * FROM {_unnest(_TIMER_COLUMNS)} "
    "ON CONFLICT (tenant_id, ticket_id, kind) DO UPDATE SET "
    "percent = EXCLUDED.percent, due_at = EXCLUDED.due_at, fence = EXCLUDED.fence"
)

_AUDIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("tenant_id", "uuid"),
    ("ticket_id", "uuid"),
    ("target_kind", "text"),
    ("kind", "smallint"),
    ("cause", "text"),
    ("cause_event_id", "text"),
    ("before_state", "text"),
    ("after_state", "text"),
    ("before_due_at", "timestamptz"),
    ("after_due_at", "timestamptz"),
    ("percent", "smallint"),
    ("late", "boolean"),
    ("event_at", "timestamptz"),
)
_INSERT_AUDIT = (
    f"INSERT INTO {SCHEMA}.audit ({_names(_AUDIT_COLUMNS)}) SELECT * FROM {_unnest(_AUDIT_COLUMNS)}"
)


def _arrays(columns: Sequence[tuple[str, str]], prefix: str = "") -> dict[str, list[Any]]:
    return {f"{prefix}{name}": [] for name, _ in columns}


async def _execute(session: AsyncSession, statement: str, params: dict[str, list[Any]]) -> None:
    async with raw_cursor(session, schema=SCHEMA, statement=statement) as cursor:
        await cursor.execute(statement, params)


async def save_clocks(session: AsyncSession, *, records: Sequence[tuple[str, ClockRecord]]) -> None:
    """Insert or update (tenant, clock) rows; the caller bumped each fence.

    One statement; of several records of one clock the last is stored.
    """
    if not records:
        return
    latest = {(tenant, r.ticket_id, r.kind): (tenant, r) for tenant, r in records}
    params = _arrays(_CLOCK_COLUMNS)
    for tenant, record in latest.values():
        clock = record.clock
        params["tenant_id"].append(tenant)
        params["ticket_id"].append(record.ticket_id)
        params["kind"].append(clock.kind.value)
        params["state"].append(clock.state.value)
        params["data"].append(Jsonb(clock_to_json(clock)))
        params["due_at"].append(clock.due_at)
        params["breached_at"].append(record.breached_at)
        params["breach_due_at"].append(record.breach_due_at)
        params["met_at"].append(record.met_at)
        params["fence"].append(record.fence)
    await _execute(session, _SAVE_CLOCKS, params)


async def delete_clock(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, kind: TargetKind
) -> None:
    """Remove a clock (its target no longer exists) and its timer."""
    for table in (clocks, timers):
        await session.execute(
            delete(table).where(
                table.c.tenant_id == tenant_id,
                table.c.ticket_id == ticket_id,
                table.c.kind == kind.value,
            )
        )


async def set_timers(session: AsyncSession, *, records: Sequence[tuple[str, ClockRecord]]) -> None:
    """Point each clock's timer at its next threshold, or drop it when there is none.

    The timer carries the clock's fence: a worker holding an older fence acts on nothing.
    One statement. As if every drop ran before every upsert: a clock with any record that
    has a next threshold keeps a timer, set from the last such record.
    """
    upserts: dict[tuple[str, str, str], tuple[str, ClockRecord, tuple[int, datetime]]] = {}
    drops: dict[tuple[str, str, str], None] = {}
    for tenant, record in records:
        key = (tenant, record.ticket_id, record.kind.value)
        nxt = record.clock.next_threshold()
        if nxt is None:
            drops[key] = None
        else:
            upserts[key] = (tenant, record, nxt)
    if not upserts and not drops:
        return
    params = {**_arrays(_TIMER_COLUMNS), **_arrays(_TIMER_KEY, "drop_")}
    for tenant, ticket_id, kind in drops:
        if (tenant, ticket_id, kind) not in upserts:
            params["drop_tenant_id"].append(tenant)
            params["drop_ticket_id"].append(ticket_id)
            params["drop_kind"].append(kind)
    for (tenant, ticket_id, kind), (_, record, (percent, due_at)) in upserts.items():
        params["tenant_id"].append(tenant)
        params["ticket_id"].append(ticket_id)
        params["kind"].append(kind)
        params["percent"].append(percent)
        params["due_at"].append(due_at)
        params["fence"].append(record.fence)
    await _execute(session, _SET_TIMERS, params)


async def insert_audit(session: AsyncSession, *, entries: Sequence[tuple[str, AuditEntry]]) -> None:
    """Append (tenant, entry) audit rows, in order, in one statement."""
    if not entries:
        return
    params = _arrays(_AUDIT_COLUMNS)
    for tenant, e in entries:
        params["id"].append(e.id)
        params["tenant_id"].append(tenant)
        params["ticket_id"].append(e.ticket_id)
        params["target_kind"].append(e.target_kind.value)
        params["kind"].append(int(e.kind))
        params["cause"].append(e.cause)
        params["cause_event_id"].append(e.cause_event_id)
        params["before_state"].append(e.before_state.value if e.before_state else None)
        params["after_state"].append(e.after_state.value if e.after_state else None)
        params["before_due_at"].append(e.before_due_at)
        params["after_due_at"].append(e.after_due_at)
        params["percent"].append(e.percent)
        params["late"].append(e.late)
        params["event_at"].append(e.event_at)
    await _execute(session, _INSERT_AUDIT, params)


async def list_audit(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, after_seq: int, limit: int
) -> list[tuple[int, AuditEntry]]:
    """A ticket's audit entries, oldest first, after sequence ``after_seq``."""
    rows = await session.execute(
        select(audit)
        .where(
            audit.c.tenant_id == tenant_id, audit.c.ticket_id == ticket_id, audit.c.seq > after_seq
        )
        .order_by(audit.c.seq)
        .limit(limit)
    )
    return [
        (
            r.seq,
            AuditEntry(
                id=r.id,
                ticket_id=r.ticket_id,
                target_kind=TargetKind(r.target_kind),
                kind=AuditKind(r.kind),
                cause=r.cause,
                event_at=r.event_at,
                cause_event_id=r.cause_event_id,
                before_state=ClockState(r.before_state) if r.before_state else None,
                after_state=ClockState(r.after_state) if r.after_state else None,
                before_due_at=r.before_due_at,
                after_due_at=r.after_due_at,
                percent=r.percent,
                late=r.late,
            ),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class BreachFilter:
    """Filters of ListBreaches."""

    since: datetime | None = None
    kinds: tuple[TargetKind, ...] = ()
    priorities: tuple[int, ...] = ()
    client_id: str = ""
    queue: str = ""


async def list_breaches(
    session: AsyncSession,
    *,
    tenant_id: str,
    filters: BreachFilter,
    after: tuple[datetime, str, str] | None,
    limit: int,
) -> list[BreachView]:
    """Breached targets, newest breach first, after the keyset position ``after``."""
    query = (
        select(clocks, tickets)
        .join(
            tickets,
            and_(
                tickets.c.tenant_id == clocks.c.tenant_id,
                tickets.c.ticket_id == clocks.c.ticket_id,
            ),
        )
        .where(clocks.c.tenant_id == tenant_id, clocks.c.breached_at.is_not(None))
    )
    if filters.since is not None:
        query = query.where(clocks.c.breached_at >= filters.since)
    if filters.kinds:
        query = query.where(clocks.c.kind.in_([k.value for k in filters.kinds]))
    if filters.priorities:
        query = query.where(tickets.c.priority.in_(filters.priorities))
    if filters.client_id:
        query = query.where(tickets.c.client_id == filters.client_id)
    if filters.queue:
        query = query.where(tickets.c.queue == filters.queue)
    if after is not None:
        breached, ticket_id, kind = after
        query = query.where(
            or_(
                clocks.c.breached_at < breached,
                and_(
                    clocks.c.breached_at == breached,
                    _after(clocks.c.ticket_id, clocks.c.kind, (ticket_id, kind)),
                ),
            )
        )
    rows = await session.execute(
        query.order_by(clocks.c.breached_at.desc(), clocks.c.ticket_id, clocks.c.kind).limit(limit)
    )
    return [
        BreachView(
            ticket=_facts(r),
            kind=TargetKind(r.kind),
            due_at=r.breach_due_at,
            breached_at=r.breached_at,
            met_at=r.met_at,
        )
        for r in rows
    ]


# --- timers (cross-tenant: run these in a system transaction) ---------------------------------


@dataclass(frozen=True, slots=True)
class DueTimer:
    """A claimed timer with its clock row, locked for this transaction."""

    tenant_id: str
    ticket_id: str
    kind: TargetKind
    percent: int
    due_at: datetime
    fence: int
    clock_fence: int
    clock_data: dict[str, Any]
    breached_at: datetime | None
    breach_due_at: datetime | None
    met_at: datetime | None


async def claim_due_timers(session: AsyncSession, *, now: datetime, limit: int) -> list[DueTimer]:
    """Lock up to ``limit`` due timers and their clocks, skipping rows another worker holds.

    Timer and clock are locked in one statement with SKIP LOCKED, so a consumer holding the
    clock (to change it) is skipped rather than waited for; it rewrites the timer anyway.
    """
    rows = await session.execute(
        select(
            timers.c.tenant_id,
            timers.c.ticket_id,
            timers.c.kind,
            timers.c.percent,
            timers.c.due_at,
            timers.c.fence,
            clocks.c.fence.label("clock_fence"),
            clocks.c.data,
            clocks.c.breached_at,
            clocks.c.breach_due_at,
            clocks.c.met_at,
        )
        .join(
            clocks,
            and_(
                clocks.c.tenant_id == timers.c.tenant_id,
                clocks.c.ticket_id == timers.c.ticket_id,
                clocks.c.kind == timers.c.kind,
            ),
        )
        .where(timers.c.due_at <= now)
        .order_by(timers.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [
        DueTimer(
            tenant_id=r.tenant_id,
            ticket_id=r.ticket_id,
            kind=TargetKind(r.kind),
            percent=r.percent,
            due_at=r.due_at,
            fence=r.fence,
            clock_fence=r.clock_fence,
            clock_data=r.data,
            breached_at=r.breached_at,
            breach_due_at=r.breach_due_at,
            met_at=r.met_at,
        )
        for r in rows
    ]


async def tickets_by_id(
    session: AsyncSession, *, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], TicketView]:
    """Ticket projections by (tenant, ticket) across tenants."""
    if not keys:
        return {}
    rows = await session.execute(
        select(tickets).where(tuple_(tickets.c.tenant_id, tickets.c.ticket_id).in_(list(keys)))
    )
    return {(r.tenant_id, r.ticket_id): _view(r) for r in rows}


async def earliest_timer(session: AsyncSession) -> datetime | None:
    """The earliest due instant of any timer."""
    found: datetime | None = (await session.execute(select(func.min(timers.c.due_at)))).scalar()
    return found


async def delete_timer_if(
    session: AsyncSession, *, tenant_id: str, ticket_id: str, kind: TargetKind, fence: int
) -> None:
    """Drop a stale timer whose fence no longer matches its clock."""
    await session.execute(
        delete(timers).where(
            timers.c.tenant_id == tenant_id,
            timers.c.ticket_id == ticket_id,
            timers.c.kind == kind.value,
            timers.c.fence == fence,
        )
    )


# --- batch reads and writes of the ticket consumer ---------------------------------------------

_TICKET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "uuid"),
    ("ticket_id", "uuid"),
    ("policy_id", "text"),
    ("policy_version", "bigint"),
    ("calendar_id", "text"),
    ("calendar_version", "bigint"),
    ("policy_snapshot", "jsonb"),
    ("calendar_snapshot", "jsonb"),
)
# What save_tickets writes: everything but the key and the snapshot, which never changes.
_SAVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("closed", "boolean"),
    ("first_response_at", "timestamptz"),
    ("number", "bigint"),
    ("title", "text"),
    ("priority", "smallint"),
    ("status", "smallint"),
    ("client_id", "text"),
    ("client_name", "text"),
    ("queue", "text"),
    ("assignee", "text"),
    ("reopen_count", "integer"),
    ("opened_at", "timestamptz"),
    ("ticket_updated_at", "timestamptz"),
)
_INSERT_TICKETS = (
    f"INSERT INTO {SCHEMA}.tickets ({_names(_TICKET_COLUMNS + _SAVED_COLUMNS)}) "
    f"SELECT * FROM {_unnest(_TICKET_COLUMNS + _SAVED_COLUMNS)} "
    "ON CONFLICT DO NOTHING RETURNING tenant_id::text, ticket_id::text"
)
_SAVE_TICKETS = (
    f"UPDATE {SCHEMA}.tickets AS t SET "
    + ", ".join(f"{n} = v.{n}" for n, _ in _SAVED_COLUMNS)
    + f" FROM {_unnest(_TICKET_COLUMNS[:2] + _SAVED_COLUMNS)}"
    f" AS v({_names(_TICKET_COLUMNS[:2] + _SAVED_COLUMNS)})"
    " WHERE t.tenant_id = v.tenant_id AND t.ticket_id = v.ticket_id"
)


_KEYS_FILTER = (
    "(tenant_id, ticket_id) IN (SELECT * FROM unnest(%(tenants)b::uuid[], %(tickets)b::uuid[]))"
)
_BATCH_TICKETS = (
    f"SELECT {select_list(tickets)} FROM {SCHEMA}.tickets WHERE {_KEYS_FILTER} "
    "ORDER BY tenant_id, ticket_id FOR UPDATE"
)
_BATCH_CLOCKS = (
    f"SELECT {select_list(clocks)} FROM {SCHEMA}.clocks WHERE {_KEYS_FILTER} "
    "ORDER BY tenant_id, ticket_id, kind FOR UPDATE"
)
_BATCH_ZONES = (
    f"SELECT tenant_id::text AS tenant_id, time_zone FROM {SCHEMA}.tenants "
    "WHERE tenant_id = ANY(%(tenant_ids)b::uuid[])"
)
_BATCH_POLICIES = (
    f"SELECT {select_list(policies)} FROM {SCHEMA}.policies "
    "WHERE tenant_id = ANY(%(tenant_ids)b::uuid[])"
)
Rows = Sequence[dict[str, Any]]


def _by_key(keys: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    return {"tenants": [t for t, _ in keys], "tickets": [k for _, k in keys]}


def _views_of(rows: Rows) -> dict[tuple[str, str], TicketView]:
    return {(r["tenant_id"], r["ticket_id"]): _view(SimpleNamespace(**r)) for r in rows}


def _clocks_of(
    views: dict[tuple[str, str], TicketView], rows: Rows
) -> dict[tuple[str, str], list[ClockRecord]]:
    found: dict[tuple[str, str], list[ClockRecord]] = {k: [] for k in views}
    for r in rows:
        key = (r["tenant_id"], r["ticket_id"])
        if key in views:
            found[key].append(_record(SimpleNamespace(**r), views[key].snapshot.business))
    return found


def _policies_of(tenant_ids: Sequence[str], rows: Rows) -> dict[str, list[PolicySpec]]:
    found: dict[str, list[PolicySpec]] = {t: [] for t in tenant_ids}
    for r in rows:
        found.setdefault(r["tenant_id"], []).append(_policy(SimpleNamespace(**r)).value)
    return found


async def tickets_for_update(
    session: AsyncSession, *, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], TicketView]:
    """Ticket projections by (tenant, ticket), locked in (tenant, ticket) order."""
    if not keys:
        return {}
    query = (_BATCH_TICKETS, _by_key(keys))
    (rows,) = await fetch_together(session, schema=SCHEMA, queries=[query])
    return _views_of(rows)


async def clocks_for_update(
    session: AsyncSession, *, views: dict[tuple[str, str], TicketView]
) -> dict[tuple[str, str], list[ClockRecord]]:
    """The clocks of ``views``' tickets (first response first), locked in key order."""
    if not views:
        return {}
    query = (_BATCH_CLOCKS, _by_key(sorted(views)))
    (rows,) = await fetch_together(session, schema=SCHEMA, queries=[query])
    return _clocks_of(views, rows)


async def tenant_zones(session: AsyncSession, *, tenant_ids: Sequence[str]) -> dict[str, str]:
    """The zones of the tenants among ``tenant_ids`` that told us one."""
    if not tenant_ids:
        return {}
    query = (_BATCH_ZONES, {"tenant_ids": list(tenant_ids)})
    (rows,) = await fetch_together(session, schema=SCHEMA, queries=[query])
    return {r["tenant_id"]: r["time_zone"] for r in rows}


async def tenant_policies(
    session: AsyncSession, *, tenant_ids: Sequence[str]
) -> dict[str, list[PolicySpec]]:
    """Every policy of each tenant among ``tenant_ids``."""
    if not tenant_ids:
        return {}
    query = (_BATCH_POLICIES, {"tenant_ids": list(tenant_ids)})
    (rows,) = await fetch_together(session, schema=SCHEMA, queries=[query])
    return _policies_of(tenant_ids, rows)


@dataclass(frozen=True, slots=True)
class BatchState:
    """What a ticket-event batch reads before it moves clocks, its rows locked."""

    views: dict[tuple[str, str], TicketView]
    clocks: dict[tuple[str, str], list[ClockRecord]]
    zones: dict[str, str]
    policies: dict[str, list[PolicySpec]]


async def lock_and_read_batch(
    session: AsyncSession, *, keys: Sequence[tuple[str, str]]
) -> BatchState:
    """:func:`tickets_for_update`, :func:`clocks_for_update`, :func:`tenant_zones` and
    :func:`tenant_policies` for a batch's (tenant, ticket) ``keys`` in one round trip (the
    zones and policies of every tenant of the batch, not only of its new tickets)."""
    if not keys:
        return BatchState({}, {}, {}, {})
    tenant_ids = sorted({t for t, _ in keys})
    ticket_rows, clock_rows, zone_rows, policy_rows = await fetch_together(
        session,
        schema=SCHEMA,
        queries=[
            (_BATCH_TICKETS, _by_key(keys)),
            (_BATCH_CLOCKS, _by_key(keys)),
            (_BATCH_ZONES, {"tenant_ids": tenant_ids}),
            (_BATCH_POLICIES, {"tenant_ids": tenant_ids}),
        ],
    )
    views = _views_of(ticket_rows)
    return BatchState(
        views,
        _clocks_of(views, clock_rows),
        {r["tenant_id"]: r["time_zone"] for r in zone_rows},
        _policies_of(tenant_ids, policy_rows),
    )


def _add_saved(params: dict[str, list[Any]], view: TicketView) -> None:
    facts = view.facts
    params["tenant_id"].append(view.tenant_id)
    params["ticket_id"].append(facts.ticket_id)
    params["closed"].append(view.closed)
    params["first_response_at"].append(view.first_response_at)
    params["number"].append(facts.number)
    params["title"].append(facts.title)
    params["priority"].append(facts.priority)
    params["status"].append(facts.status)
    params["client_id"].append(facts.client_id)
    params["client_name"].append(facts.client_name)
    params["queue"].append(facts.queue)
    params["assignee"].append(facts.assignee)
    params["reopen_count"].append(facts.reopen_count)
    params["opened_at"].append(facts.opened_at)
    params["ticket_updated_at"].append(facts.updated_at)


async def insert_tickets(
    session: AsyncSession, *, views: Sequence[TicketView]
) -> set[tuple[str, str]]:
    """Insert projections with their snapshots; the (tenant, ticket) keys actually inserted.

    One statement, whatever the number of views.
    """
    if not views:
        return set()
    params = _arrays(_TICKET_COLUMNS + _SAVED_COLUMNS)
    for view in views:
        _add_saved(params, view)
        snapshot = view.snapshot
        params["policy_id"].append(snapshot.policy.id)
        params["policy_version"].append(snapshot.policy.version)
        params["calendar_id"].append(snapshot.calendar.id)
        params["calendar_version"].append(snapshot.calendar.version)
        params["policy_snapshot"].append(Jsonb(snapshot.policy.to_json()))
        params["calendar_snapshot"].append(Jsonb(snapshot.calendar.to_json()))
    async with raw_cursor(session, schema=SCHEMA, statement=_INSERT_TICKETS) as cursor:
        await cursor.execute(_INSERT_TICKETS, params)
        return {(tenant, ticket) for tenant, ticket in await cursor.fetchall()}


async def save_tickets(session: AsyncSession, *, views: Sequence[TicketView]) -> None:
    """:func:`save_ticket` for many projections, in one statement (of several views of
    one ticket the last is stored)."""
    if not views:
        return
    latest = {(v.tenant_id, v.facts.ticket_id): v for v in views}
    params = _arrays(_TICKET_COLUMNS[:2] + _SAVED_COLUMNS)
    for view in latest.values():
        _add_saved(params, view)
    await _execute(session, _SAVE_TICKETS, params)
