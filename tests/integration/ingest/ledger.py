"""What the ingest schema holds, read as the owner: to prove nothing is half-stored."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url


def libpq(url: str) -> str:
    """A SQLAlchemy database URL as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class Snapshot:
    """Alert ids, body ids and outbox event ids stored so far."""

    alerts: frozenset[str]
    bodies: frozenset[str]
    events: frozenset[str]


@dataclass(frozen=True)
class StoredAlert:
    """One alert row and what it must come with."""

    alert_id: str
    raw_body: bytes | None
    has_event: bool


async def snapshot(conn: psycopg.AsyncConnection) -> Snapshot:
    """Everything stored now."""

    async def ids(query: str) -> frozenset[str]:
        return frozenset(str(r[0]) for r in await (await conn.execute(query)).fetchall())

    return Snapshot(
        alerts=await ids("SELECT id FROM ingest.alert_events"),
        bodies=await ids("SELECT id FROM ingest.webhook_bodies"),
        events=await ids("SELECT event_id FROM ingest.outbox"),
    )


async def stored_alerts(conn: psycopg.AsyncConnection, alert_ids: list[str]) -> list[StoredAlert]:
    """The alerts ``alert_ids`` with their raw body (wherever kept) and event presence."""
    rows = await (
        await conn.execute(
            "SELECT a.id, coalesce(a.raw_body, b.raw_body), o.event_id IS NOT NULL"
            " FROM ingest.alert_events a"
            " LEFT JOIN ingest.webhook_bodies b ON b.id = a.body_id"
            " LEFT JOIN ingest.outbox o ON o.event_id = a.id"
            " WHERE a.id = ANY(%s::uuid[])",
            (alert_ids,),
        )
    ).fetchall()
    return [StoredAlert(str(r[0]), bytes(r[1]) if r[1] is not None else None, r[2]) for r in rows]
