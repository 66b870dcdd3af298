"""The group commit's one statement: alerts, their bodies and the events of the new ones.

Never commits: the writer runs it in the pipelined transaction it owns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb

from services.ingest.domain.records import AlertRecord
from services.ingest.store.admission import ADMIT_TENANTS

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
# Rows of a tenant the admission refused (``adm``, evaluated once before the first row)
# are left out.
_INSERT_ALERTS = (
    "INSERT INTO ingest.alert_events ("
    + ", ".join(name for name, _ in _ALERT_COLUMNS)
    + ") SELECT * FROM unnest("
    + ", ".join(f"%({name})b::{kind}[]" for name, kind in _ALERT_COLUMNS)
    + ") AS a("
    + ", ".join(name for name, _ in _ALERT_COLUMNS)
    + ") WHERE a.tenant_id <> ALL ((SELECT refused FROM adm)::uuid[])"
    " ON CONFLICT ON CONSTRAINT alert_events_delivery_key DO UPDATE"
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
# comes back with its outbox row's id (its event id is the alert's id). The admission
# (store/admission.py) rides in the same statement, so it costs no round trip: each tenant
# it refused comes back as a row of its own (``refused_tenant``).
_INSERT_ALERTS_WITH_EVENTS = (
    f"WITH adm AS MATERIALIZED (SELECT {ADMIT_TENANTS}(%(admit)b::uuid[]) AS refused),"
    " ins AS ("
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
    " SELECT i.id, i.integration_id, i.delivery_key, i.inserted, ob.id AS outbox_id,"
    " NULL::uuid AS refused_tenant FROM ins i LEFT JOIN ob ON ob.event_id = i.id"
    " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, r FROM adm, unnest(adm.refused) AS r"
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
    params["admit"] = sorted({row["tenant_id"] for row in rows})
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


def alert_row(record: AlertRecord) -> dict[str, Any]:
    """The ``alert_events`` row of a record."""
    a = record.alert
    return {
        "id": record.alert_id,
        "tenant_id": record.tenant_id,
        "integration_id": record.integration_id,
        "provider": record.provider,
        "kind": a.kind.value,
        "series_key": record.series_key,
        "delivery_key": record.delivery_key,
        "source_event_id": a.provider_event_id,
        "source_ref": a.source_ref,
        "device_id": a.device_id,
        "device_name": a.device_name,
        "client_id": a.client_id,
        "client_name": a.client_name,
        "site_id": a.site_id,
        "site_name": a.site_name,
        "condition": a.condition,
        "severity": int(a.severity),
        "raw_severity": a.raw_severity,
        "summary": a.title,
        "message": a.message,
        "labels": dict(a.labels),
        "occurred_at": a.occurred_at,
        "received_at": record.received_at,
        "content_type": record.content_type,
        "body_id": record.body.id,
    }


def body_row(record: AlertRecord) -> dict[str, Any]:
    """The ``webhook_bodies`` row of a record's body."""
    return {
        "id": record.body.id,
        "tenant_id": record.tenant_id,
        "integration_id": record.integration_id,
        "received_at": record.received_at,
        "content_type": record.content_type,
        "raw_body": record.body.raw,
    }


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What the statement says of one delivery key: its alert, whether this batch
    inserted it, and the outbox row of its event when it did."""

    id: str
    integration_id: str
    delivery_key: str
    inserted: bool
    outbox_id: int | None


async def insert_alert_batch(
    tx: Any,
    records: Sequence[AlertRecord],
    events: Sequence[dict[str, Any]],
    bodies: Sequence[AlertRecord],
) -> Any:
    """Queue the statement on the pipelined transaction ``tx`` (``events[i]`` belongs to
    ``records[i]``; ``bodies`` are records whose body is stored, each body once); returns
    the cursor to read with :func:`batch_outcome` once the transaction committed."""
    statement, params = alert_batch_params(
        [alert_row(r) for r in records], events, [body_row(r) for r in bodies]
    )
    return await tx.execute(statement, params, row_factory=namedtuple_row)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What the statement did: the keys it stored, and the tenants whose rows it left out
    because they are deleted here (their webhooks are answered 410)."""

    stored: list[StoredKey]
    refused: frozenset[str]


async def batch_outcome(cursor: Any) -> BatchOutcome:
    """The rows :func:`insert_alert_batch` returned."""
    stored: list[StoredKey] = []
    refused: set[str] = set()
    for row in await cursor.fetchall():
        if row.refused_tenant is not None:
            refused.add(str(row.refused_tenant))
            continue
        stored.append(
            StoredKey(
                id=str(row.id),
                integration_id=str(row.integration_id),
                delivery_key=row.delivery_key,
                inserted=bool(row.inserted),
                outbox_id=row.outbox_id,
            )
        )
    return BatchOutcome(stored=stored, refused=frozenset(refused))
