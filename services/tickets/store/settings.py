"""Each tenant's ticket settings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    func,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import models as m
from services.tickets.domain.incidents import StormSettings
from services.tickets.domain.tickets import Damping, Status, TenantSettings
from triage.runtime import fetch_together, select_list


async def get_settings(session: AsyncSession, *, tenant_id: str) -> TenantSettings:
    """The tenant's settings, or the defaults when it never set any."""
    return (await get_settings_many(session, [tenant_id]))[tenant_id]


def _settings(row: Mapping[str, Any]) -> TenantSettings:
    return TenantSettings(
        closed_statuses=frozenset(Status(s) for s in row["closed_statuses"]),
        pausing_statuses=frozenset(Status(s) for s in row["pausing_statuses"]),
        occurrence_comment_interval=timedelta(seconds=row["occurrence_comment_interval_seconds"]),
        reopen_within=timedelta(seconds=row["reopen_within_seconds"]),
        damping=Damping(
            enabled=row["flap_damping"],
            changes=row["flap_changes"],
            window=timedelta(seconds=row["flap_window_seconds"]),
        ),
        storm=StormSettings(
            enabled=row["storm_protection"],
            tickets=row["storm_tickets"],
            window=timedelta(seconds=row["storm_window_seconds"]),
        ),
        version=row["version"],
    )


async def put_settings(session: AsyncSession, *, tenant_id: str, settings: TenantSettings) -> int:
    """Store the tenant's settings; returns their new version."""
    session.info.get(_READ, {}).pop(tenant_id, None)
    values: dict[str, Any] = {
        "closed_statuses": sorted(int(s) for s in settings.closed_statuses),
        "pausing_statuses": sorted(int(s) for s in settings.pausing_statuses),
        "occurrence_comment_interval_seconds": settings.occurrence_comment_interval.total_seconds(),
        "reopen_within_seconds": settings.reopen_within.total_seconds(),
        "flap_damping": settings.damping.enabled,
        "flap_changes": settings.damping.changes,
        "flap_window_seconds": settings.damping.window.total_seconds(),
        "storm_protection": settings.storm.enabled,
        "storm_tickets": settings.storm.tickets,
        "storm_window_seconds": settings.storm.window.total_seconds(),
        "updated_at": func.now(),
    }
    result = await session.execute(
        insert(m.settings)
        .values(tenant_id=tenant_id, version=1, **values)
        .on_conflict_do_update(
            index_elements=[m.settings.c.tenant_id],
            set_={**values, "version": m.settings.c.version + 1},
        )
        .returning(m.settings.c.version)
    )
    return int(result.scalar_one())


_SETTINGS_OF_TENANTS = (
    f"SELECT {select_list(m.settings)} FROM {m.SCHEMA}.tenant_settings "
    "WHERE tenant_id = ANY(%(tenants)b::uuid[])"
)


def _settings_of(
    tenants: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> dict[str, TenantSettings]:
    found = {t: TenantSettings() for t in tenants}
    for row in rows:
        found[row["tenant_id"]] = _settings(row)
    return found


#: Where a transaction keeps the settings it has read (``session.info``): a batch asks for
#: them at each step (storms, damping, reopening) and reads them from the table once.
_READ = "tickets.settings"


def remember_settings(session: AsyncSession, found: Mapping[str, TenantSettings]) -> None:
    """Keep settings this transaction read elsewhere (a batch's first round trip)."""
    session.info.setdefault(_READ, {}).update(found)


def unread_settings(session: AsyncSession, tenant_ids: Iterable[str]) -> list[str]:
    """Which of ``tenant_ids`` this transaction has not read the settings of yet."""
    read: dict[str, TenantSettings] = session.info.get(_READ, {})
    return sorted({t for t in tenant_ids if t not in read})


def settings_query(tenant_ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The raw query of ``tenant_ids``' settings, for a round trip that reads more."""
    return _SETTINGS_OF_TENANTS, {"tenants": list(tenant_ids)}


def keep_settings(
    session: AsyncSession, tenant_ids: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> dict[str, TenantSettings]:
    """Remember what :func:`settings_query` of ``tenant_ids`` returned (defaults for a
    tenant without a row) for the rest of the transaction; returns it."""
    found = _settings_of(tenant_ids, rows)
    remember_settings(session, found)
    return found


async def get_settings_many(
    session: AsyncSession, tenant_ids: Iterable[str]
) -> dict[str, TenantSettings]:
    """:func:`get_settings` of each of ``tenant_ids`` (all bound), in one query; settings
    this transaction read already are not read again."""
    tenants = sorted(set(tenant_ids))
    read: dict[str, TenantSettings] = session.info.setdefault(_READ, {})
    missing = [t for t in tenants if t not in read]
    if missing:
        query = (_SETTINGS_OF_TENANTS, {"tenants": missing})
        (rows,) = await fetch_together(session, schema=m.SCHEMA, queries=[query])
        read.update(_settings_of(missing, rows))
    return {t: read[t] for t in tenants}
