"""Queries over ``integration_polls`` and the series a cycle compares with. Never commits.

The claim is a lease, not a held lock: it is taken in a short transaction with
``FOR UPDATE SKIP LOCKED`` (any number of replicas), the provider is called outside any
transaction, and the cycle's outcome is written only while the lease still holds.

An integration's alert events are read through the tenant's indexes
(``alert_events_by_series``: tenant, series key, received; ``alert_events_by_tenant_time``):
ingest's series keys all begin with ``{integration id}:`` (``AlertRecord.series_key``), so
an integration's series are one key range of its tenant's. An index of their own would
cost every stored alert an extra index entry for reads only polling does. The range
compares code points, as the C-ordered collations do (the dev stack's builtin
``C.UTF-8``, CloudNativePG's default ``C``); a linguistic collation would order
``:`` and ``;`` otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.alerts import AlertKind, Severity
from services.ingest.domain.polled_series import ClosedPolled
from services.ingest.domain.polling import POLLABLE, PollRow, SeriesState

# Who is polled (docs/POLLING.md): a pollable provider with a base URL and a sealed
# secret, live, enabled, and polling not switched off (unset means on).
_ELIGIBLE = (
    "i.deleted_at IS NULL AND NOT i.disabled AND i.api_secret IS NOT NULL"
    " AND i.provider = ANY(:pollable)"
    " AND coalesce(i.settings->'api'->>'base_url', '') <> ''"
    " AND (i.settings->'polling_enabled') IS DISTINCT FROM 'false'::jsonb"
)
_ADD_POLLED = text(
    "INSERT INTO ingest.integration_polls (integration_id, tenant_id, next_poll_at)"
    f" SELECT i.id, i.tenant_id, now() FROM ingest.integrations i WHERE {_ELIGIBLE}"
    " ON CONFLICT (integration_id) DO NOTHING"
)
_DROP_UNPOLLED = text(
    "DELETE FROM ingest.integration_polls p USING ingest.integrations i"
    f" WHERE p.integration_id = i.id AND NOT ({_ELIGIBLE})"
)
_CLAIM = text(
    "UPDATE ingest.integration_polls p SET claimed_by = :me,"
    " claimed_until = now() + make_interval(secs => :lease), last_started_at = now()"
    " WHERE p.integration_id IN ("
    "  SELECT integration_id FROM ingest.integration_polls"
    "   WHERE next_poll_at <= now() AND (claimed_until IS NULL OR claimed_until < now())"
    "   ORDER BY next_poll_at LIMIT :batch FOR UPDATE SKIP LOCKED)"
    " RETURNING p.integration_id, p.tenant_id, p.claimed_until, p.failures, p.missing_since,"
    " p.polled_open, p.last_started_at"
)
_SERIES = text(
    "SELECT DISTINCT ON (series_key) id, series_key, kind, received_at, condition, severity,"
    " summary, message, device_id, device_name, client_id, client_name, site_id, site_name,"
    " raw_severity, source_ref FROM ingest.alert_events"
    " WHERE tenant_id = :t AND series_key >= :prefix AND series_key < :prefix_end"
    " AND kind IN ('trigger', 'reset') AND received_at >= :since"
    # By when it happened, as tickets orders a series: a trigger delivered after the reset
    # that closed its firing (or a reset before its trigger) leaves the series closed.
    " ORDER BY series_key, coalesce(occurred_at, received_at) DESC, received_at DESC, id DESC"
)
_LATER = text(
    "SELECT e.id, e.series_key, e.kind, e.received_at, e.condition, e.severity,"
    " e.summary, e.message, e.device_id FROM ingest.alert_events e"
    " WHERE e.tenant_id = :t AND e.series_key >= :prefix AND e.series_key < :prefix_end"
    " AND e.kind IN ('trigger', 'reset') AND e.id <> ALL(CAST(:ids AS uuid[]))"
    " AND e.received_at >= (SELECT min(received_at) FROM ingest.alert_events"
    "  WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[])))"
    " ORDER BY e.received_at LIMIT :limit"
)
_KEYS = text(
    "SELECT id, series_key FROM ingest.alert_events"
    " WHERE tenant_id = :t AND integration_id = :i AND id = ANY(CAST(:ids AS uuid[]))"
)
_CLOSED = text(
    "SELECT p.id, p.series_key, p.device_id, p.condition,"
    " max(coalesce(r.occurred_at, r.received_at)) AS reset_at"
    " FROM ingest.alert_events r JOIN ingest.alert_events p"
    # A series key names its integration (its prefix): the tenant's series index.
    "  ON p.tenant_id = r.tenant_id AND p.series_key = r.series_key"
    "  AND p.kind = 'trigger' AND p.labels->>'triage.origin' = 'poll'"
    "  AND p.received_at <= r.received_at"
    # The window of the tenant's events by time, or of the integration's series.
    " WHERE r.tenant_id = :t AND r.received_at >= :since"
    " AND r.series_key >= :prefix AND r.series_key < :prefix_end AND r.kind = 'reset'"
    " GROUP BY p.id, p.series_key, p.device_id, p.condition"
    " ORDER BY reset_at DESC LIMIT :limit"
)


def series_range(integration_id: str) -> dict[str, str]:
    """The bounds of the integration's series keys, ``prefix <= key < prefix_end``
    (``;`` follows ``:``)."""
    return {"prefix": f"{integration_id}:", "prefix_end": f"{integration_id};"}


@dataclass(frozen=True, slots=True)
class PollClaim:
    """A cycle this replica holds the lease of."""

    integration_id: str
    tenant_id: str
    lease_until: datetime
    failures: int
    missing_since: Mapping[str, str]
    polled_open: Mapping[str, str]
    started_at: datetime


async def sync_polled(session: AsyncSession) -> None:
    """Add a row for every integration that should be polled, drop the others' rows."""
    params = {"pollable": sorted(POLLABLE)}
    await session.execute(_ADD_POLLED, params)
    await session.execute(_DROP_UNPOLLED, params)


async def claim_due(
    session: AsyncSession, *, me: str, lease_seconds: float, batch: int
) -> list[PollClaim]:
    """Lease up to ``batch`` due cycles nobody holds (skipping rows others are claiming)."""
    rows = (await session.execute(_CLAIM, {"me": me, "lease": lease_seconds, "batch": batch})).all()
    return [
        PollClaim(
            integration_id=str(r.integration_id),
            tenant_id=str(r.tenant_id),
            lease_until=r.claimed_until,
            failures=int(r.failures),
            missing_since=dict(r.missing_since or {}),
            polled_open=dict(r.polled_open or {}),
            started_at=r.last_started_at,
        )
        for r in rows
    ]


async def finish_cycle(
    session: AsyncSession,
    claim: PollClaim,
    *,
    me: str,
    delay_seconds: float,
    values: Mapping[str, Any],
) -> bool:
    """Write a cycle's outcome and release the lease; False (nothing written) when the
    lease was lost to another replica meanwhile."""
    sets = ", ".join(f"{name} = :{name}" for name in values)
    statement = text(
        "UPDATE ingest.integration_polls SET "
        + (sets + ", " if sets else "")
        + "next_poll_at = now() + make_interval(secs => :delay), last_finished_at = now(),"
        " claimed_by = NULL, claimed_until = NULL"
        " WHERE integration_id = :integration_id AND claimed_by = :me"
        " AND claimed_until = :lease_until"
    )
    params: dict[str, Any] = {
        name: Jsonb(value) if isinstance(value, dict) else value for name, value in values.items()
    }
    params.update(
        delay=delay_seconds,
        integration_id=claim.integration_id,
        me=me,
        lease_until=claim.lease_until,
    )
    result = await session.execute(statement, params)
    return bool(getattr(result, "rowcount", 0))


async def series_states(
    session: AsyncSession, *, tenant_id: str, integration_id: str, since: datetime
) -> list[SeriesState]:
    """The latest trigger or reset of each of the integration's series received since
    ``since``, by when it happened (then by arrival)."""
    params = {"t": tenant_id, "since": since, **series_range(integration_id)}
    rows = (await session.execute(_SERIES, params)).all()
    return [
        SeriesState(
            alert_id=str(r.id),
            series_key=r.series_key.removeprefix(f"{integration_id}:"),
            kind=AlertKind(r.kind),
            received_at=r.received_at,
            condition=r.condition,
            severity=Severity(r.severity),
            summary=r.summary,
            message=r.message,
            device_id=r.device_id,
            device_name=r.device_name,
            client_id=r.client_id,
            client_name=r.client_name,
            site_id=r.site_id,
            site_name=r.site_name,
            raw_severity=r.raw_severity,
            source_ref=r.source_ref,
        )
        for r in rows
    ]


async def poll_rows(session: AsyncSession, integration_ids: Sequence[str]) -> dict[str, PollRow]:
    """The poll status rows of these integrations (those that are polled)."""
    if not integration_ids:
        return {}
    rows = (
        await session.execute(
            text(
                "SELECT integration_id, next_poll_at, failures, last_finished_at, last_ok_at,"
                " last_outcome, last_error, last_found, last_created, last_resolved"
                " FROM ingest.integration_polls WHERE integration_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": list(integration_ids)},
        )
    ).all()
    return {
        str(r.integration_id): PollRow(
            integration_id=str(r.integration_id),
            next_poll_at=r.next_poll_at,
            failures=int(r.failures),
            last_finished_at=r.last_finished_at,
            last_ok_at=r.last_ok_at,
            last_outcome=r.last_outcome,
            last_error=r.last_error,
            last_found=int(r.last_found),
            last_created=int(r.last_created),
            last_resolved=int(r.last_resolved),
        )
        for r in rows
    }


async def polled_open(session: AsyncSession, integration_id: str) -> dict[str, str]:
    """Reconcile key -> alert id of the triggers polling created that are still open."""
    row = (
        await session.execute(
            text("SELECT polled_open FROM ingest.integration_polls WHERE integration_id = :i"),
            {"i": integration_id},
        )
    ).first()
    return dict(row.polled_open or {}) if row is not None else {}


async def due_now(session: AsyncSession, integration_id: str) -> None:
    """Make the integration's next cycle due now (an operator's "poll now")."""
    await session.execute(
        text("UPDATE ingest.integration_polls SET next_poll_at = now() WHERE integration_id = :i"),
        {"i": integration_id},
    )


async def later_series_events(
    session: AsyncSession,
    *,
    tenant_id: str,
    integration_id: str,
    alert_ids: Sequence[str],
    limit: int = 1000,
) -> list[SeriesState]:
    """The integration's triggers and resets stored since the first of ``alert_ids``
    (the polled alerts a webhook may duplicate), those excepted."""
    params = {
        "t": tenant_id,
        "ids": list(alert_ids),
        "limit": limit,
        **series_range(integration_id),
    }
    rows = (await session.execute(_LATER, params)).all()
    return [
        SeriesState(
            alert_id=str(r.id),
            series_key=r.series_key.removeprefix(f"{integration_id}:"),
            kind=AlertKind(r.kind),
            received_at=r.received_at,
            condition=r.condition,
            severity=Severity(r.severity),
            summary=r.summary,
            message=r.message,
            device_id=r.device_id,
        )
        for r in rows
    ]


async def series_keys(
    session: AsyncSession, *, tenant_id: str, integration_id: str, alert_ids: Sequence[str]
) -> dict[str, str]:
    """Alert id -> series key (without the integration prefix) of the integration's
    ``alert_ids``."""
    params = {"t": tenant_id, "i": integration_id, "ids": list(alert_ids)}
    rows = (await session.execute(_KEYS, params)).all()
    return {str(r.id): r.series_key.removeprefix(f"{integration_id}:") for r in rows}


async def integration_settings(session: AsyncSession, integration_id: str) -> dict[str, Any]:
    """The integration's stored settings (empty when there is no such integration)."""
    row = (
        await session.execute(
            text("SELECT settings FROM ingest.integrations WHERE id = :i"), {"i": integration_id}
        )
    ).first()
    return dict(row.settings or {}) if row is not None else {}


async def closed_polled(
    session: AsyncSession,
    *,
    tenant_id: str,
    integration_id: str,
    since: datetime,
    limit: int = 1000,
) -> list[ClosedPolled]:
    """The triggers polling created (``triage.origin=poll``) whose series got a reset
    received since ``since``, with when that series' latest such reset occurred."""
    params = {"t": tenant_id, "since": since, "limit": limit, **series_range(integration_id)}
    rows = (await session.execute(_CLOSED, params)).all()
    return [
        ClosedPolled(
            alert_id=str(r.id),
            series_key=r.series_key.removeprefix(f"{integration_id}:"),
            device_id=r.device_id,
            condition=r.condition,
            reset_at=r.reset_at,
        )
        for r in rows
    ]
