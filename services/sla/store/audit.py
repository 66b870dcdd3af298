"""The clock audit log: appended in batches, listed per ticket."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.clock import ClockState, TargetKind
from services.sla.domain.ticket import (
    AuditEntry,
    AuditKind,
)
from services.sla.models import (
    SCHEMA,
    audit,
)
from services.sla.store.sql import arrays, column_names, execute_arrays, unnest

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
    f"INSERT INTO {SCHEMA}.audit ({column_names(_AUDIT_COLUMNS)}) "
    f"SELECT * FROM {unnest(_AUDIT_COLUMNS)}"
)


async def insert_audit(session: AsyncSession, *, entries: Sequence[tuple[str, AuditEntry]]) -> None:
    """Append (tenant, entry) audit rows, in order, in one statement."""
    if not entries:
        return
    params = arrays(_AUDIT_COLUMNS)
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
    await execute_arrays(session, _INSERT_AUDIT, params)


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
