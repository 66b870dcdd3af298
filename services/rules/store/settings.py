"""Tenant settings: the time zone, default actions and the rule-set version every change bumps."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import RowFactory, namedtuple_row
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.records import SettingsRecord
from services.rules.models import SCHEMA, settings
from services.rules.store.rows import as_record
from triage.runtime import BatchFence, FenceChecking, pipelined, raw_cursor

_BIND_TENANTS = "SELECT set_config('triage.tenant_id', %(tenant)s, true)"

_SETTINGS_OF = (
    "SELECT tenant_id::text AS tenant_id, time_zone, default_actions, rule_set_version "
    "FROM rules.tenant_settings WHERE tenant_id = ANY(%(tenant_id)b::uuid[])"
)

# The same read running a partitioned batch's fence check (the runtime's own statement, as a
# CTE): one row per settings row found, each with the held count, or one row with no
# settings (NULL tenant) when none is found.
_FENCED_SETTINGS_OF = (
    "WITH fence(held) AS ({check}) "
    "SELECT s.tenant_id::text AS tenant_id, s.time_zone, s.default_actions, "
    "s.rule_set_version, f.held AS fence_held FROM fence f "
    "LEFT JOIN rules.tenant_settings s ON s.tenant_id = ANY(%(tenant_id)b::uuid[])"
)


async def get_settings(session: AsyncSession, *, tenant_id: str) -> SettingsRecord | None:
    """The tenant's settings, if any."""
    row = (await session.execute(select(settings).where(settings.c.tenant_id == tenant_id))).first()
    return None if row is None else as_record(SettingsRecord, row)


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


@functools.cache
def _fenced_settings_of(check: str) -> FenceChecking:
    return FenceChecking(_FENCED_SETTINGS_OF.format(check=check))


def settings_read(
    tenant_ids: Sequence[str], *, fence: BatchFence | None = None
) -> tuple[str, dict[str, Any], RowFactory[Any]]:
    """The statement, parameters and row factory reading the settings of ``tenant_ids``
    (canonical ids), for :func:`settings_by_tenant`; sent with BEGIN by the routing consumer.

    With a batch's ``fence``, the read also runs the fence's check (so the runtime sends
    none apart): :func:`fence_held` gives the count the caller must compare."""
    params: dict[str, Any] = {"tenant_id": list(tenant_ids)}
    if fence is None:
        return _SETTINGS_OF, params, namedtuple_row
    return _fenced_settings_of(fence.check), {**fence.params, **params}, namedtuple_row


def fence_held(rows: Sequence[Any]) -> int:
    """The partitions still held, as a fenced :func:`settings_read` counted them."""
    return int(rows[0].fence_held) if rows else 0


def settings_by_tenant(rows: Sequence[Any]) -> dict[str, SettingsRecord]:
    """Settings rows (named tuples) as records by tenant id (a fenced read's row without
    settings skipped)."""
    return {row.tenant_id: as_record(SettingsRecord, row) for row in rows if row.tenant_id}


async def bind_settings(
    session: AsyncSession, *, tenant_ids: Sequence[str], read: Sequence[str]
) -> dict[str, SettingsRecord]:
    """Bind the tenant set ``tenant_ids`` (as the runtime's ``bind_tenants`` does) and read
    the settings of ``read`` (canonical ids; those that have them), by tenant id. One round
    trip."""
    async with pipelined(session):
        async with raw_cursor(session, schema=SCHEMA, statement=_BIND_TENANTS) as cursor:
            await cursor.execute(_BIND_TENANTS, {"tenant": ",".join(sorted(set(tenant_ids)))})
        if not read:
            return {}
        statement, params, rows = settings_read(read)
        async with raw_cursor(
            session, schema=SCHEMA, statement=statement, row_factory=rows
        ) as cursor:
            await cursor.execute(statement, params)
            return settings_by_tenant(await cursor.fetchall())
