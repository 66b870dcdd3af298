"""Queries over the ingest schema. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from psycopg.types.json import Jsonb
from sqlalchemy import Row, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import alert_events, integrations, tenants, webhook_bodies

_ALERT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("tenant_id", "uuid"),
    ("integration_id", "uuid"),
    ("provider", "text"),
    ("kind", "text"),
    ("series_key", "text"),
    ("delivery_key", "text"),
    ("source_event_id", "text"),
    ("source_ref", "text"),
    ("device_id", "text"),
    ("device_name", "text"),
    ("client_id", "text"),
    ("client_name", "text"),
    ("site_id", "text"),
    ("site_name", "text"),
    ("condition", "text"),
    ("severity", "smallint"),
    ("raw_severity", "text"),
    ("summary", "text"),
    ("message", "text"),
    ("labels", "jsonb"),
    ("occurred_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("content_type", "text"),
    ("body_id", "uuid"),
)
# One statement whatever the batch size: columns travel as arrays and are unnested, so
# the text never changes (psycopg and PostgreSQL cache it) and there is one round trip.
_INSERT_ALERTS = (
    "INSERT INTO ingest.alert_events ("
    + ", ".join(name for name, _ in _ALERT_COLUMNS)
    + ") SELECT * FROM unnest("
    + ", ".join(f"%({name})b::{kind}[]" for name, kind in _ALERT_COLUMNS)
    + ") ON CONFLICT ON CONSTRAINT alert_events_delivery_key DO UPDATE"
    " SET redelivery_count = ingest.alert_events.redelivery_count + 1"
    " RETURNING id, integration_id, delivery_key, body_id, (xmax = 0) AS inserted"
)
_BODY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("tenant_id", "uuid"),
    ("integration_id", "uuid"),
    ("received_at", "timestamptz"),
    ("content_type", "text"),
    ("raw_body", "bytea"),
)
# A body is stored once for all the alerts it carried, and only when one of them is new:
# a redelivered body adds nothing. The alerts' foreign key is checked at the end of the
# statement, after this insert.
_INSERT_BODIES = (
    "INSERT INTO ingest.webhook_bodies ("
    + ", ".join(name for name, _ in _BODY_COLUMNS)
    + ") SELECT b.* FROM unnest("
    + ", ".join(f"%(bd_{name})b::{kind}[]" for name, kind in _BODY_COLUMNS)
    + ") AS b("
    + ", ".join(name for name, _ in _BODY_COLUMNS)
    + ") WHERE b.id IN (SELECT body_id FROM ins WHERE inserted)"
)


_EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("integration_id", "uuid"),
    ("delivery_key", "text"),
    ("event_id", "uuid"),
    ("tenant_id", "uuid"),
    ("subject", "text"),
    ("type", "text"),
    ("envelope", "bytea"),
    ("headers", "jsonb"),
)
# Alerts and the alert.received events of the fresh ones, in one statement: the outbox
# rows are joined to the rows the INSERT really created, so a redelivery writes no event,
# and their ids join the relay's pending queue (as ``Outbox.add`` does). Each fresh alert
# comes back with its outbox row's id (its event id is the alert's id).
_INSERT_ALERTS_WITH_EVENTS = (
    "WITH ins AS ("
    + _INSERT_ALERTS
    + "), bd AS ("
    + _INSERT_BODIES
    + "), ev AS (SELECT * FROM unnest("
    + ", ".join(f"%(ev_{name})b::{kind}[]" for name, kind in _EVENT_COLUMNS)
    + ") AS e("
    + ", ".join(name for name, _ in _EVENT_COLUMNS)
    + ")), ob AS (INSERT INTO ingest.outbox (event_id, tenant_id, subject, type, envelope, headers)"
    " SELECT e.event_id, e.tenant_id, e.subject, e.type, e.envelope, e.headers FROM ev e"
    " JOIN ins i ON i.integration_id = e.integration_id AND i.delivery_key = e.delivery_key"
    " WHERE i.inserted RETURNING id, event_id),"
    " q AS (INSERT INTO ingest.outbox_pending (id) SELECT id FROM ob)"
    " SELECT i.id, i.integration_id, i.delivery_key, i.inserted, ob.id AS outbox_id"
    " FROM ins i LEFT JOIN ob ON ob.event_id = i.id"
)


def alert_batch_params(
    rows: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    bodies: Sequence[dict[str, Any]],
) -> tuple[str, dict[str, list[Any]]]:
    """The statement and array parameters that store ``rows`` and, for the rows that are
    new, their events (``events[i]`` belongs to ``rows[i]``) and their ``bodies`` (each
    body once, referenced by the rows' ``body_id``)."""
    params: dict[str, list[Any]] = {name: [] for name, _ in _ALERT_COLUMNS}
    for row in rows:
        for name, _ in _ALERT_COLUMNS:
            value = row[name]
            params[name].append(Jsonb(value) if name == "labels" else value)
    for name, _ in _BODY_COLUMNS:
        params[f"bd_{name}"] = [body[name] for body in bodies]
    for name, _ in _EVENT_COLUMNS:
        params[f"ev_{name}"] = [
            Jsonb(event[name]) if name == "headers" else event[name] for event in events
        ]
    return _INSERT_ALERTS_WITH_EVENTS, params


async def touch_integrations(
    session: AsyncSession, integration_ids: Sequence[str], at: datetime
) -> None:
    """Record when integrations last delivered."""
    await session.execute(
        update(integrations)
        .where(integrations.c.id.in_(list(integration_ids)))
        .values(last_received_at=at)
    )


async def webhook_credentials(session: AsyncSession, integration_id: str) -> Row[Any] | None:
    """The integration and its tenant, for authenticating a webhook (any tenant)."""
    return (
        await session.execute(
            select(integrations).where(
                integrations.c.id == integration_id, integrations.c.deleted_at.is_(None)
            )
        )
    ).first()


async def get_integration(session: AsyncSession, integration_id: str) -> Row[Any] | None:
    """One live integration of the bound tenant."""
    return (
        await session.execute(
            select(integrations).where(
                integrations.c.id == integration_id, integrations.c.deleted_at.is_(None)
            )
        )
    ).first()


async def list_integrations(
    session: AsyncSession,
    *,
    provider: str | None,
    show_disabled: bool,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row[Any]]:
    """A page of the bound tenant's integrations, oldest first."""
    query = select(integrations).where(integrations.c.deleted_at.is_(None))
    if provider:
        query = query.where(integrations.c.provider == provider)
    if not show_disabled:
        query = query.where(integrations.c.disabled.is_(False))
    if after is not None:
        query = query.where(
            or_(
                integrations.c.created_at > after[0],
                and_(integrations.c.created_at == after[0], integrations.c.id > after[1]),
            )
        )
    query = query.order_by(integrations.c.created_at, integrations.c.id).limit(limit)
    return list((await session.execute(query)).all())


def _without_body() -> list[Any]:
    return [col for col in alert_events.c if col.name != "raw_body"]


def _raw_body() -> Any:
    """An alert's raw body: on the row for rows stored before ``webhook_bodies``, else the
    body it points to."""
    body = (
        select(webhook_bodies.c.raw_body)
        .where(webhook_bodies.c.id == alert_events.c.body_id)
        .correlate(alert_events)
        .scalar_subquery()
    )
    return func.coalesce(alert_events.c.raw_body, body).label("raw_body")


async def get_alert(session: AsyncSession, alert_id: str) -> Row[Any] | None:
    """One alert event of the bound tenant, with its raw body."""
    query = select(*_without_body(), _raw_body()).where(alert_events.c.id == alert_id)
    return cast("Row[Any] | None", (await session.execute(query)).first())


async def list_alerts(
    session: AsyncSession,
    *,
    filters: dict[str, Any],
    before: tuple[datetime, str] | None,
    limit: int,
) -> list[Row[Any]]:
    """A page of the bound tenant's alert events, newest first."""
    c = alert_events.c
    query = select(*_without_body())
    conditions = []
    if v := filters.get("integration_id"):
        conditions.append(c.integration_id == v)
    if v := filters.get("providers"):
        conditions.append(c.provider.in_(v))
    if v := filters.get("kinds"):
        conditions.append(c.kind.in_(v))
    if v := filters.get("series_key"):
        conditions.append(c.series_key == v)
    if v := filters.get("device_id"):
        conditions.append(c.device_id == v)
    if v := filters.get("client_id"):
        conditions.append(c.client_id == v)
    if v := filters.get("min_severity"):
        conditions.append(c.severity >= v)
    if v := filters.get("start_time"):
        conditions.append(c.received_at >= v)
    if v := filters.get("end_time"):
        conditions.append(c.received_at < v)
    if (v := filters.get("suppressed")) is not None:
        conditions.append(c.suppressed.is_(v))
    if v := filters.get("reset_state"):
        conditions.append(c.reset_state == v)
    if before is not None:
        conditions.append(
            or_(c.received_at < before[0], and_(c.received_at == before[0], c.id < before[1]))
        )
    query = query.where(*conditions).order_by(c.received_at.desc(), c.id.desc()).limit(limit)
    return list((await session.execute(query)).all())


async def get_tenant(session: AsyncSession, tenant_id: str) -> Row[Any] | None:
    """One tenant (visible only to itself or to the owner)."""
    return (await session.execute(select(tenants).where(tenants.c.id == tenant_id))).first()


async def list_tenants(
    session: AsyncSession, *, after: tuple[datetime, str] | None, limit: int
) -> list[Row[Any]]:
    """A page of tenants, oldest first (owner session only)."""
    query = select(tenants)
    if after is not None:
        query = query.where(
            or_(
                tenants.c.created_at > after[0],
                and_(tenants.c.created_at == after[0], tenants.c.id > after[1]),
            )
        )
    return list(
        (
            await session.execute(query.order_by(tenants.c.created_at, tenants.c.id).limit(limit))
        ).all()
    )


async def count_alerts(session: AsyncSession) -> int:
    """How many alert events the bound tenant has."""
    return int((await session.execute(select(func.count()).select_from(alert_events))).scalar_one())


async def latest_series_alert(
    session: AsyncSession, *, series_key: str, kinds: Sequence[str], lock: bool = False
) -> Row[Any] | None:
    """The bound tenant's latest event of ``kinds`` in a series, by when it happened."""
    c = alert_events.c
    query = (
        select(*_without_body())
        .where(c.series_key == series_key, c.kind.in_(list(kinds)))
        .order_by(
            func.coalesce(c.occurred_at, c.received_at).desc(), c.received_at.desc(), c.id.desc()
        )
        .limit(1)
    )
    if lock:
        query = query.with_for_update(of=alert_events)
    return (await session.execute(query)).first()


async def set_reset(session: AsyncSession, *, alert_id: str, values: dict[str, Any]) -> Row[Any]:
    """Write an alert event's outbound reset columns; returns the row (without raw body)."""
    return (
        await session.execute(
            update(alert_events)
            .where(alert_events.c.id == alert_id)
            .values(**values)
            .returning(*_without_body())
        )
    ).one()


async def claim_due_resets(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[Row[Any]]:
    """Lease up to ``limit`` due pending resets (any tenant) by moving their due time on.

    Rows locked by another claimer are skipped; the lease value fences a late writer.
    """
    c = alert_events.c
    due = (
        select(c.id)
        .where(c.reset_state == "pending", c.reset_next_attempt_at <= now)
        .order_by(c.reset_next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(alert_events)
        .where(c.id.in_(due.scalar_subquery()))
        .values(reset_next_attempt_at=lease_until)
        .returning(*_without_body(), _raw_body())
    )
    return list((await session.execute(statement)).all())


async def integrations_by_id(
    session: AsyncSession, integration_ids: Sequence[str]
) -> dict[str, Row[Any]]:
    """Integrations by id, deleted ones included (owner session: any tenant)."""
    if not integration_ids:
        return {}
    rows = (
        await session.execute(
            select(integrations).where(integrations.c.id.in_(list(integration_ids)))
        )
    ).all()
    return {str(r.id): r for r in rows}


async def record_reset(
    session: AsyncSession, *, alert_id: str, lease: datetime, values: dict[str, Any]
) -> Row[Any] | None:
    """Record an attempt, only if the lease still holds (None: another worker took over)."""
    c = alert_events.c
    return (
        await session.execute(
            update(alert_events)
            .where(c.id == alert_id, c.reset_state == "pending", c.reset_next_attempt_at == lease)
            .values(**values)
            .returning(*_without_body())
        )
    ).first()


async def next_reset_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending reset is due (any tenant), if there is one."""
    c = alert_events.c
    value = (
        await session.execute(
            select(func.min(c.reset_next_attempt_at)).where(c.reset_state == "pending")
        )
    ).scalar_one()
    return value if isinstance(value, datetime) else None
