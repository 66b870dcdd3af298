"""Queries over the ``rules`` schema; every function takes the caller's session, none commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.models import SCHEMA, decisions, rules, series, settings, windows
from triage.runtime import pipelined, raw_cursor

HELD = (series.c.state == "firing") & series.c.suppressed_window_id.is_not(None)


async def get_settings(session: AsyncSession, *, tenant_id: str) -> Row[Any] | None:
    """The tenant's settings row, if any."""
    return (
        await session.execute(select(settings).where(settings.c.tenant_id == tenant_id))
    ).first()


async def bump_version(session: AsyncSession, *, tenant_id: str) -> tuple[int, int]:
    """Lock the tenant's settings row and bump its rule-set version: (before, after).

    Every change to a tenant's rules or windows goes through here first, so changes of one
    tenant are serialized by this row lock.
    """
    base = insert(settings).values(tenant_id=tenant_id, rule_set_version=1)
    stmt = base.on_conflict_do_update(
        index_elements=[settings.c.tenant_id],
        set_={"rule_set_version": settings.c.rule_set_version + 1, "updated_at": func.now()},
    ).returning(settings.c.rule_set_version)
    after = int((await session.execute(stmt)).scalar_one())
    return after - 1, after


async def rule_set_version(session: AsyncSession, *, tenant_id: str) -> int:
    """The tenant's current rule-set version (0 before any change)."""
    value = (
        await session.execute(
            select(settings.c.rule_set_version).where(settings.c.tenant_id == tenant_id)
        )
    ).scalar_one_or_none()
    return int(value or 0)


async def set_time_zone(
    session: AsyncSession, *, tenant_id: str, time_zone: str, changed_at: datetime
) -> bool:
    """Store the tenant's zone if this change is newer than the stored one; True if it moved."""
    current = (
        await session.execute(
            select(settings.c.time_zone, settings.c.time_zone_changed_at)
            .where(settings.c.tenant_id == tenant_id)
            .with_for_update()
        )
    ).first()
    if current is None:
        await session.execute(
            insert(settings)
            .values(
                tenant_id=tenant_id,
                time_zone=time_zone,
                time_zone_changed_at=changed_at,
                rule_set_version=0,
            )
            .on_conflict_do_nothing()
        )
        return time_zone != "UTC"
    if current.time_zone_changed_at is not None and current.time_zone_changed_at >= changed_at:
        return False
    await session.execute(
        update(settings)
        .where(settings.c.tenant_id == tenant_id)
        .values(time_zone=time_zone, time_zone_changed_at=changed_at)
    )
    return bool(current.time_zone != time_zone)


async def all_rules(session: AsyncSession) -> Sequence[Row[Any]]:
    """Every rule of the bound tenant in evaluation order."""
    return (await session.execute(select(rules).order_by(rules.c.position, rules.c.id))).all()


async def get_rule(
    session: AsyncSession, *, rule_id: str, for_update: bool = False
) -> Row[Any] | None:
    """One rule of the bound tenant."""
    stmt = select(rules).where(rules.c.id == rule_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def rule_named(session: AsyncSession, *, name: str) -> str | None:
    """The id of the bound tenant's rule with ``name``."""
    value = (await session.execute(select(rules.c.id).where(rules.c.name == name))).scalar()
    return None if value is None else str(value)


async def count_rules(session: AsyncSession) -> int:
    """How many rules the bound tenant has."""
    return int((await session.execute(select(func.count()).select_from(rules))).scalar_one())


async def shift_positions(session: AsyncSession, *, from_position: int, by: int) -> None:
    """Move every rule at or after ``from_position`` by ``by``."""
    await session.execute(
        update(rules)
        .where(rules.c.position >= from_position)
        .values(position=rules.c.position + by)
    )


async def insert_rule(session: AsyncSession, values: dict[str, Any]) -> Any:
    """Insert a rule and return its row."""
    return (await session.execute(rules.insert().values(**values).returning(rules))).one()


async def update_rule(session: AsyncSession, *, rule_id: str, values: dict[str, Any]) -> Any:
    """Update a rule and return its row."""
    return (
        await session.execute(
            update(rules).where(rules.c.id == rule_id).values(**values).returning(rules)
        )
    ).one()


async def delete_rule(session: AsyncSession, *, rule_id: str) -> None:
    """Delete a rule."""
    await session.execute(rules.delete().where(rules.c.id == rule_id))


async def list_rules(
    session: AsyncSession,
    *,
    after: tuple[int, str] | None,
    limit: int,
    show_disabled: bool,
) -> Sequence[Row[Any]]:
    """One page of rules in evaluation order, after the keyset position ``after``."""
    stmt = select(rules).order_by(rules.c.position, rules.c.id).limit(limit)
    if not show_disabled:
        stmt = stmt.where(rules.c.enabled)
    if after is not None:
        stmt = stmt.where(
            (rules.c.position > after[0])
            | ((rules.c.position == after[0]) & (rules.c.id > after[1]))
        )
    return (await session.execute(stmt)).all()


async def all_windows(session: AsyncSession) -> Sequence[Row[Any]]:
    """Every window of the bound tenant, oldest first."""
    return (
        await session.execute(select(windows).order_by(windows.c.created_at, windows.c.id))
    ).all()


async def get_window(
    session: AsyncSession, *, window_id: str, for_update: bool = False
) -> Row[Any] | None:
    """One window of the bound tenant."""
    stmt = select(windows).where(windows.c.id == window_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def insert_window(session: AsyncSession, values: dict[str, Any]) -> Any:
    """Insert a window and return its row."""
    return (await session.execute(windows.insert().values(**values).returning(windows))).one()


async def update_window(session: AsyncSession, *, window_id: str, values: dict[str, Any]) -> Any:
    """Update a window and return its row."""
    return (
        await session.execute(
            update(windows).where(windows.c.id == window_id).values(**values).returning(windows)
        )
    ).one()


async def delete_window(session: AsyncSession, *, window_id: str) -> None:
    """Delete a window."""
    await session.execute(windows.delete().where(windows.c.id == window_id))


async def recheck_held_by(session: AsyncSession, *, window_id: str, at: datetime) -> int:
    """Make the series a window holds due for re-evaluation at ``at`` (the window changed)."""
    result = await session.execute(
        update(series)
        .where(HELD, series.c.suppressed_window_id == window_id)
        .values(suppressed_until=func.least(series.c.suppressed_until, at))
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def due_series(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Any]:
    """(tenant, series key) of held series whose hold is due, across tenants (owner only)."""
    return (
        await session.execute(
            select(series.c.tenant_id, series.c.series_key)
            .where(HELD, series.c.suppressed_until <= now)
            .order_by(series.c.suppressed_until)
            .limit(limit)
        )
    ).all()


async def next_hold_end(session: AsyncSession) -> datetime | None:
    """The earliest hold end of any held series, across tenants (owner only)."""
    value: datetime | None = (
        await session.execute(select(func.min(series.c.suppressed_until)).where(HELD))
    ).scalar()
    return value


async def lock_due_series(
    session: AsyncSession, *, keys: Sequence[str], now: datetime
) -> Sequence[Row[Any]]:
    """The bound tenant's due held series among ``keys``, locked, skipping ones being handled."""
    return (
        await session.execute(
            select(series)
            .where(HELD, series.c.suppressed_until <= now, series.c.series_key.in_(keys))
            .with_for_update(skip_locked=True)
        )
    ).all()


async def update_series(session: AsyncSession, *, series_key: str, values: dict[str, Any]) -> None:
    """Update one series row of the bound tenant."""
    await session.execute(
        update(series)
        .where(series.c.series_key == series_key)
        .values(**values, updated_at=func.now())
    )


async def get_decision(session: AsyncSession, *, alert_id: str) -> Row[Any] | None:
    """The logged decision (and stored alert) of one alert of the bound tenant."""
    return (
        await session.execute(select(decisions).where(decisions.c.alert_id == alert_id))
    ).first()


async def decisions_between(
    session: AsyncSession, *, start: datetime, end: datetime, limit: int
) -> Sequence[Row[Any]]:
    """The bound tenant's logged decisions of alerts that occurred in ``[start, end)``."""
    return (
        await session.execute(
            select(decisions)
            .where(decisions.c.occurred_at >= start, decisions.c.occurred_at < end)
            .order_by(decisions.c.occurred_at, decisions.c.alert_id)
            .limit(limit)
        )
    ).all()


# ---- batch routing (the alert.received consumer) ---------------------------------------
# Fixed statement texts over unnest()ed arrays: one round trip and no SQLAlchemy statement
# construction per batch, whatever its size. They run on the session's connection
# (``raw_cursor``), so they share its transaction and the tenant set bound in it.

_BIND_TENANTS = "SELECT set_config('triage.tenant_id', %(tenant)s, true)"

_SETTINGS_OF = (
    "SELECT tenant_id::text AS tenant_id, time_zone, default_actions, rule_set_version "
    "FROM rules.tenant_settings WHERE tenant_id = ANY(%(tenant_id)b::uuid[])"
)

# Claim the batch's events in the inbox, log the decisions of the claimed ones (the first
# event of each alert; an alert already logged is skipped) and lock the series they may move,
# in key order so that concurrent batches never deadlock: one statement, one round trip.
_CLAIM_DECIDE_LOCK = (
    "WITH claimed AS ("
    " INSERT INTO {inbox} (consumer, event_id, tenant_id)"
    " SELECT %(consumer)s, e.event_id, e.tenant_id"
    " FROM unnest(%(event_id)b::uuid[], %(event_tenant_id)b::uuid[]) AS e(event_id, tenant_id)"
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

# A NULL trigger_alert keeps the stored one (a reset never replaces the trigger it ends).
_UPSERT_SERIES_MANY = (
    "INSERT INTO rules.series (tenant_id, series_key, state, last_alert_id, last_event_at, "
    "last_sequence, trigger_alert, suppressed_window_id, suppressed_until, updated_at) "
    "SELECT u.*, now() FROM unnest(%(tenant_id)b::uuid[], %(series_key)b::text[], "
    "%(state)b::text[], %(last_alert_id)b::text[], %(last_event_at)b::timestamptz[], "
    "%(last_sequence)b::bigint[], %(trigger_alert)b::bytea[], "
    "%(suppressed_window_id)b::uuid[], %(suppressed_until)b::timestamptz[]) AS u "
    "ON CONFLICT (tenant_id, series_key) DO UPDATE SET state = EXCLUDED.state, "
    "last_alert_id = EXCLUDED.last_alert_id, last_event_at = EXCLUDED.last_event_at, "
    "last_sequence = EXCLUDED.last_sequence, "
    "trigger_alert = COALESCE(EXCLUDED.trigger_alert, rules.series.trigger_alert), "
    "suppressed_window_id = EXCLUDED.suppressed_window_id, "
    "suppressed_until = EXCLUDED.suppressed_until, updated_at = now()"
)


def settings_query(tenant_ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The statement reading the settings rows of ``tenant_ids`` (canonical ids), for
    :func:`settings_by_tenant`; sent with BEGIN by the routing consumer."""
    return _SETTINGS_OF, {"tenant_id": list(tenant_ids)}


def settings_by_tenant(rows: Sequence[Any]) -> dict[str, Any]:
    """Settings rows (named tuples) by tenant id."""
    return {row.tenant_id: row for row in rows}


async def bind_settings(
    session: AsyncSession, *, tenant_ids: Sequence[str], read: Sequence[str]
) -> dict[str, Any]:
    """Bind the tenant set ``tenant_ids`` (as ``triage.runtime.db.bind_tenants`` does) and
    read the settings rows of ``read`` (canonical ids; those that have one), by tenant id.
    One round trip."""
    async with pipelined(session):
        async with raw_cursor(session, schema=SCHEMA, statement=_BIND_TENANTS) as cursor:
            await cursor.execute(_BIND_TENANTS, {"tenant": ",".join(sorted(set(tenant_ids)))})
        if not read:
            return {}
        async with raw_cursor(
            session, schema=SCHEMA, statement=_SETTINGS_OF, row_factory=namedtuple_row
        ) as cursor:
            await cursor.execute(*settings_query(read))
            return settings_by_tenant(await cursor.fetchall())


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
    (one list per column, plus ``decision_event_id``) and lock the ``lock_keys`` series."""
    statement = _CLAIM_DECIDE_LOCK.format(inbox=inbox)
    params = {
        "consumer": consumer,
        "event_id": event_ids,
        "event_tenant_id": event_tenant_ids,
        "lock_tenant_id": [k[0] for k in lock_keys],
        "lock_series_key": [k[1] for k in lock_keys],
        **decisions,
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


async def upsert_series_many(session: AsyncSession, columns: dict[str, list[Any]]) -> None:
    """Insert or replace series rows (one list per column, one row per key)."""
    async with raw_cursor(session, schema=SCHEMA, statement=_UPSERT_SERIES_MANY) as cursor:
        await cursor.execute(_UPSERT_SERIES_MANY, columns)
