"""The decision log: one row per alert decided on receipt, the history Simulate replays.

The batch statement is fixed text over unnest()ed arrays, run on the session's connection
(``raw_cursor``), so it shares its transaction and the tenant set bound in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.records import DecisionRecord
from services.rules.models import SCHEMA, decisions
from services.rules.store.rows import as_record
from triage.runtime import raw_cursor

# Claim the batch's events in the inbox, log the decisions of the claimed ones (the first
# event of each alert; an alert already logged is skipped) and lock the series they may move,
# in key order so that concurrent batches never deadlock: one statement, one round trip.
_CLAIM_DECIDE_LOCK = (
    "WITH claimed AS ("
    " INSERT INTO {inbox} (consumer, event_id, tenant_id)"
    " SELECT %(consumer)s, e.event_id, e.tenant_id"
    " FROM unnest(%(event_id)b::uuid[], %(event_tenant_id)b::uuid[]) AS e(event_id, tenant_id)"
    # A tenant deleted here stays deleted: its late events are never claimed (tombstones).
    " WHERE e.tenant_id NOT IN (SELECT deleted_tenant_id FROM rules.deleted_tenants)"
    " ON CONFLICT DO NOTHING RETURNING event_id"
    "), firsts AS ("
    " SELECT DISTINCT ON (d.tenant_id, d.alert_id) d.*"
    " FROM unnest(%(decision_event_id)b::uuid[], %(tenant_id)b::uuid[], %(alert_id)b::text[],"
    " %(series_key)b::text[], %(occurred_at)b::timestamptz[], %(alert)b::bytea[],"
    " %(kind)b::text[], %(window_id)b::uuid[], %(rule_ids)b::jsonb[],"
    " %(rule_set_version)b::bigint[], %(create_ticket)b::boolean[],"
    " %(decided_at)b::timestamptz[]) WITH ORDINALITY AS d(event_id, tenant_id, alert_id,"
    " series_key, occurred_at, alert, kind, window_id, rule_ids, rule_set_version,"
    " create_ticket, decided_at, ord)"
    " WHERE d.event_id IN (SELECT event_id FROM claimed)"
    " ORDER BY d.tenant_id, d.alert_id, d.ord"
    "), logged AS ("
    " INSERT INTO rules.decisions (tenant_id, alert_id, series_key, occurred_at, alert, kind,"
    " window_id, rule_ids, rule_set_version, create_ticket, decided_at)"
    " SELECT tenant_id, alert_id, series_key, occurred_at, alert, kind, window_id, rule_ids,"
    " rule_set_version, create_ticket, decided_at FROM firsts"
    " ON CONFLICT DO NOTHING RETURNING tenant_id, alert_id"
    "), locked AS ("
    " SELECT tenant_id, series_key, last_event_at, last_sequence FROM rules.series"
    " WHERE (tenant_id, series_key) IN"
    " (SELECT * FROM unnest(%(lock_tenant_id)b::uuid[], %(lock_series_key)b::text[]))"
    " ORDER BY tenant_id, series_key FOR UPDATE"
    ") "
    "SELECT 'claimed', event_id::text, NULL::text, NULL::timestamptz, NULL::bigint FROM claimed "
    "UNION ALL SELECT 'logged', tenant_id::text, alert_id, NULL, NULL FROM logged "
    "UNION ALL SELECT 'series', tenant_id::text, series_key, last_event_at, last_sequence "
    "FROM locked"
)


async def get_decision(session: AsyncSession, *, alert_id: str) -> DecisionRecord | None:
    """The logged decision (and stored alert) of one alert of the bound tenant."""
    row = (await session.execute(select(decisions).where(decisions.c.alert_id == alert_id))).first()
    return None if row is None else as_record(DecisionRecord, row)


async def decisions_between(
    session: AsyncSession, *, start: datetime, end: datetime, limit: int
) -> list[DecisionRecord]:
    """The bound tenant's logged decisions of alerts that occurred in ``[start, end)``."""
    rows = (
        await session.execute(
            select(decisions)
            .where(decisions.c.occurred_at >= start, decisions.c.occurred_at < end)
            .order_by(decisions.c.occurred_at, decisions.c.alert_id)
            .limit(limit)
        )
    ).all()
    return [as_record(DecisionRecord, r) for r in rows]


@dataclass(slots=True)
class Claimed:
    """What :func:`claim_decide_lock` found: event ids new to the inbox, (tenant, alert id)
    pairs newly logged, and the locked series rows by (tenant, series key)."""

    event_ids: set[str] = field(default_factory=set)
    logged: set[tuple[str, str]] = field(default_factory=set)
    series: dict[tuple[str, str], tuple[datetime, int]] = field(default_factory=dict)


async def claim_decide_lock(
    session: AsyncSession,
    *,
    inbox: str,
    consumer: str,
    event_ids: Sequence[str],
    event_tenant_ids: Sequence[str],
    decisions: dict[str, list[Any]],
    lock_keys: Sequence[tuple[str, str]],
) -> Claimed:
    """Claim ``event_ids`` in the ``inbox`` table, log the claimed events' ``decisions``
    (one list per column, plus ``decision_event_id``; ``rule_ids`` a list of ids each) and
    lock the ``lock_keys`` series."""
    statement = _CLAIM_DECIDE_LOCK.format(inbox=inbox)
    params = {
        "consumer": consumer,
        "event_id": event_ids,
        "event_tenant_id": event_tenant_ids,
        "lock_tenant_id": [k[0] for k in lock_keys],
        "lock_series_key": [k[1] for k in lock_keys],
        **decisions,
        "rule_ids": [Jsonb(ids) for ids in decisions["rule_ids"]],
    }
    found = Claimed()
    async with raw_cursor(session, schema=SCHEMA, statement=statement) as cursor:
        await cursor.execute(statement, params)
        for what, a, b, at, sequence in await cursor.fetchall():
            if what == "claimed":
                found.event_ids.add(a)
            elif what == "logged":
                found.logged.add((a, b))
            else:
                found.series[(a, b)] = (at, sequence)
    return found
