"""Incidents, their members and the tenants' storm settings (issue 19)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import DateTime, Row, delete, func, literal, select, tuple_, update
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from services.tickets.domain.incidents import Incident, Member
from services.tickets.domain.tickets import Source
from services.tickets.store import settings as settings_store
from triage.runtime import fetch_together

_I = m.incidents
_M = m.incident_members


def _incident(row: Any) -> Incident:
    return Incident(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        group_key=row.group_key,
        rule_id=row.rule_id,
        rule_name=row.rule_name,
        parent_ticket_id=str(row.parent_ticket_id),
        started_at=row.started_at,
        window=timedelta(seconds=row.window_seconds),
        storm=row.storm,
        client_id=row.client_id,
        client_name=row.client_name,
        primary_series_key=row.primary_series_key,
        severity=row.severity,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        last_joined_at=row.last_joined_at,
        storm_tickets_before=row.storm_tickets_before,
    )


def _values(incident: Incident) -> dict[str, Any]:
    return {
        "tenant_id": incident.tenant_id,
        "id": incident.id,
        "group_key": incident.group_key,
        "rule_id": incident.rule_id,
        "rule_name": incident.rule_name,
        "storm": incident.storm,
        "client_id": incident.client_id,
        "client_name": incident.client_name,
        "parent_ticket_id": incident.parent_ticket_id,
        "started_at": incident.started_at,
        "window_seconds": incident.window.total_seconds(),
        "primary_series_key": incident.primary_series_key,
        "severity": incident.severity,
        "opened_at": incident.opened_at or func.now(),
        "closed_at": incident.closed_at,
        "last_joined_at": incident.last_joined_at,
        "storm_tickets_before": incident.storm_tickets_before,
    }


def _member(row: Row[Any]) -> Member:
    return Member(
        incident_id=str(row.incident_id),
        series_key=row.series_key,
        dedup_key=row.dedup_key,
        primary=row.is_primary,
        occurrences=row.occurrences,
        first_at=row.first_at,
        last_at=row.last_at,
        reset_at=row.reset_at,
        merged_ticket_id=None if row.merged_ticket_id is None else str(row.merged_ticket_id),
        device_name=row.device_name,
        condition=row.condition,
        severity=row.severity,
        joined_at=row.joined_at,
        moved_at=row.moved_at,
    )


async def insert_incident(session: AsyncSession, incident: Incident) -> bool:
    """Insert ``incident``; False when the client already has an open storm (the unique
    index: another replica opened it first)."""
    result = await session.execute(
        insert(_I).values(**_values(incident)).on_conflict_do_nothing().returning(_I.c.id)
    )
    return result.first() is not None


async def save_incident(session: AsyncSession, incident: Incident) -> None:
    """Write ``incident``'s changing fields."""
    values = _values(incident)
    for fixed in ("tenant_id", "id", "opened_at"):
        values.pop(fixed)
    await session.execute(
        update(_I)
        .where(_I.c.tenant_id == incident.tenant_id, _I.c.id == incident.id)
        .values(**values)
    )


async def get_incident(
    session: AsyncSession, *, tenant_id: str, incident_id: str, for_update: bool = False
) -> Incident | None:
    """One incident."""
    query = select(_I).where(_I.c.tenant_id == tenant_id, _I.c.id == incident_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else _incident(row)


async def latest_for_group(
    session: AsyncSession, *, tenant_id: str, group_key: str
) -> Incident | None:
    """The group key's most recently started incident, locked."""
    query = (
        select(_I)
        .where(_I.c.tenant_id == tenant_id, _I.c.group_key == group_key)
        .order_by(_I.c.started_at.desc(), _I.c.id.desc())
        .limit(1)
        .with_for_update()
    )
    row = (await session.execute(query)).first()
    return None if row is None else _incident(row)


async def open_storm(session: AsyncSession, *, tenant_id: str, group_key: str) -> Incident | None:
    """The client's open storm incident, locked."""
    query = (
        select(_I)
        .where(_I.c.tenant_id == tenant_id, _I.c.group_key == group_key)
        .where(_I.c.storm, _I.c.closed_at.is_(None))
        .with_for_update()
    )
    row = (await session.execute(query)).first()
    return None if row is None else _incident(row)


def _incident_columns(alias: str) -> str:
    return ", ".join(
        f"{alias}.{c.name}::text AS {c.name}"
        if isinstance(c.type, UUID)
        else f"{alias}.{c.name} AS {c.name}"
        for c in _I.c
    )


# Series keys begin with their tenant id, so tenants x keys selects the pairs; arrays in
# binary and one statement text for any batch (prepared once), unlike a tuple IN list.
_MEMBERSHIPS_OF_SERIES = (
    f"SELECT m.series_key AS member_series, m.moved_at AS member_moved_at, "
    f"{_incident_columns('i')} FROM {m.SCHEMA}.incident_members m "
    f"JOIN {m.SCHEMA}.incidents i ON i.tenant_id = m.tenant_id AND i.id = m.incident_id "
    "WHERE m.tenant_id = ANY(%(tenants)b::uuid[]) AND m.series_key = ANY(%(keys)b::text[]) "
    "ORDER BY i.started_at DESC, i.id DESC"
)


@dataclass(frozen=True, slots=True)
class SeriesMemberships:
    """What the batch's series are to incidents: each one's latest incident, and those a
    person moved out of an open incident (their alerts take the ordinary ticket path)."""

    latest: dict[tuple[str, str], Incident]
    moved: set[tuple[str, str]]


async def series_memberships(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> SeriesMemberships:
    """:func:`series_incidents` and :func:`moved_series` of ``pairs`` in one round trip,
    which also reads the settings of their tenants that this transaction has not read yet
    (the alert batch asks for them next: storms, then the batch's own read)."""
    if not pairs:
        return SeriesMemberships({}, set())
    tenants = sorted({t for t, _ in pairs})
    params = {"tenants": tenants, "keys": sorted({k for _, k in pairs})}
    unread = settings_store.unread_settings(session, tenants)
    queries = [(_MEMBERSHIPS_OF_SERIES, params)]
    if unread:
        queries.append(settings_store.settings_query(unread))
    rows, *settings_rows = await fetch_together(session, schema=m.SCHEMA, queries=queries)
    if unread:
        settings_store.keep_settings(session, unread, settings_rows[0])
    wanted = set(pairs)
    latest: dict[tuple[str, str], Incident] = {}
    moved: set[tuple[str, str]] = set()
    for row in rows:
        pair = (row["tenant_id"], row["member_series"])
        if pair not in wanted:
            continue
        incident = _incident(SimpleNamespace(**row))
        latest.setdefault(pair, incident)
        if row["member_moved_at"] is not None and incident.closed_at is None:
            moved.add(pair)
    return SeriesMemberships(latest, moved)


async def series_incidents(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], Incident]:
    """For each ``(tenant_id, series_key)``, the latest incident the series is a member of."""
    if not pairs:
        return {}
    query = (
        select(_M.c.series_key.label("member_series"), _I)
        .join(_I, (_I.c.tenant_id == _M.c.tenant_id) & (_I.c.id == _M.c.incident_id))
        .where(tuple_(_M.c.tenant_id, _M.c.series_key).in_([tuple(p) for p in pairs]))
        .order_by(_I.c.started_at.desc(), _I.c.id.desc())
    )
    found: dict[tuple[str, str], Incident] = {}
    for r in (await session.execute(query)).all():
        found.setdefault((str(r.tenant_id), r.member_series), _incident(r))
    return found


async def members(session: AsyncSession, *, tenant_id: str, incident_id: str) -> list[Member]:
    """The incident's members, in joining order."""
    query = (
        select(_M)
        .where(_M.c.tenant_id == tenant_id, _M.c.incident_id == incident_id)
        .order_by(_M.c.joined_at, _M.c.first_at, _M.c.series_key)
    )
    return [_member(r) for r in (await session.execute(query)).all()]


async def put_member(session: AsyncSession, *, tenant_id: str, member: Member) -> None:
    """Insert or overwrite one member."""
    values = {
        "dedup_key": member.dedup_key,
        "is_primary": member.primary,
        "occurrences": member.occurrences,
        "first_at": member.first_at,
        "last_at": member.last_at,
        "reset_at": member.reset_at,
        "merged_ticket_id": member.merged_ticket_id,
        "device_name": member.device_name,
        "condition": member.condition,
        "severity": member.severity,
        "moved_at": member.moved_at,
    }
    statement = insert(_M).values(
        tenant_id=tenant_id,
        incident_id=member.incident_id,
        series_key=member.series_key,
        joined_at=member.joined_at or func.now(),
        **values,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[_M.c.tenant_id, _M.c.incident_id, _M.c.series_key], set_=values
        )
    )


async def remove_member(
    session: AsyncSession, *, tenant_id: str, incident_id: str, series_key: str
) -> None:
    """Take one member out of its incident."""
    await session.execute(
        delete(_M).where(
            _M.c.tenant_id == tenant_id,
            _M.c.incident_id == incident_id,
            _M.c.series_key == series_key,
        )
    )


async def move_members(
    session: AsyncSession, *, tenant_id: str, source_id: str, target_id: str
) -> None:
    """Move every member of ``source_id`` to ``target_id`` (a series in both keeps the
    target's row)."""
    kept = select(_M.c.series_key).where(_M.c.tenant_id == tenant_id, _M.c.incident_id == target_id)
    await session.execute(
        update(_M)
        .where(_M.c.tenant_id == tenant_id, _M.c.incident_id == source_id)
        .where(_M.c.series_key.not_in(kept))
        .values(incident_id=target_id)
    )
    await session.execute(
        delete(_M).where(_M.c.tenant_id == tenant_id, _M.c.incident_id == source_id)
    )


async def list_incidents(
    session: AsyncSession,
    *,
    tenant_id: str,
    open_only: bool,
    limit: int,
    before: tuple[datetime, str] | None = None,
) -> list[Incident]:
    """The tenant's incidents, newest first (``limit`` rows after the keyset ``before``)."""
    query = select(_I).where(_I.c.tenant_id == tenant_id)
    if open_only:
        query = query.where(_I.c.closed_at.is_(None))
    if before is not None:
        at, after_id = before
        query = query.where(
            tuple_(_I.c.started_at, _I.c.id)
            < tuple_(literal(at, DateTime(timezone=True)), literal(after_id, UUID(as_uuid=False)))
        )
    query = query.order_by(_I.c.started_at.desc(), _I.c.id.desc()).limit(limit)
    return [_incident(r) for r in (await session.execute(query)).all()]


async def member_counts(
    session: AsyncSession, *, tenant_id: str, incident_ids: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """``incident id -> (members, members still firing)``."""
    if not incident_ids:
        return {}
    query = (
        select(
            _M.c.incident_id,
            func.count(),
            func.count().filter(_M.c.reset_at.is_(None)),
        )
        .where(_M.c.tenant_id == tenant_id, _M.c.incident_id.in_(list(incident_ids)))
        .where(_M.c.moved_at.is_(None))
        .group_by(_M.c.incident_id)
    )
    rows = (await session.execute(query)).all()
    return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


async def recent_alert_tickets(
    session: AsyncSession, *, tenant_id: str, client_id: str, since: datetime, at_most: int
) -> int:
    """How many alert tickets the client opened since ``since``, counted up to ``at_most``
    (the storm counter: the tickets table is shared by every partition, so the count holds
    at N replicas; past the storm's threshold the exact number changes no decision, and a
    client in a storm opens thousands: counting them all would slow every batch)."""
    t = m.tickets
    recent = (
        select(t.c.id)
        .where(
            t.c.tenant_id == tenant_id,
            t.c.client_id == client_id,
            t.c.source == int(Source.ALERT),
            t.c.created_at >= since,
        )
        .limit(at_most)
        .subquery()
    )
    query = select(func.count()).select_from(recent)
    return int((await session.execute(query)).scalar_one())
