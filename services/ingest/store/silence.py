"""Queries of the silent-source sweep. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.silence import MIN_SILENT_AFTER

# Last contact: the last stored webhook or polled alert, or the last successful poll.
_CONTACT = "greatest(i.last_received_at, p.last_ok_at)"
_CANDIDATES = text(
    f"SELECT i.id, i.tenant_id, i.provider, i.display_name, i.settings, i.silent_since,"
    f" {_CONTACT} AS last_contact"
    " FROM ingest.integrations i"
    " LEFT JOIN ingest.integration_polls p ON p.integration_id = i.id"
    " WHERE i.deleted_at IS NULL AND NOT i.disabled AND ("
    f"  (i.silent_since IS NULL AND {_CONTACT} < now() - make_interval(secs => :min_silent))"
    f"  OR (i.silent_since IS NOT NULL AND {_CONTACT} > i.silent_since))"
    " ORDER BY i.id LIMIT :limit FOR UPDATE OF i SKIP LOCKED"
)


@dataclass(frozen=True, slots=True)
class SilenceCandidate:
    """An integration that may have gone silent, or that was silent and spoke again."""

    integration_id: str
    tenant_id: str
    provider: str
    display_name: str
    settings: dict[str, Any]
    silent_since: datetime | None
    last_contact: datetime | None


async def silence_candidates(session: AsyncSession, *, limit: int) -> list[SilenceCandidate]:
    """Integrations to look at, locked (rows another replica is sweeping are skipped)."""
    rows = (
        await session.execute(
            _CANDIDATES, {"min_silent": MIN_SILENT_AFTER.total_seconds(), "limit": limit}
        )
    ).all()
    return [
        SilenceCandidate(
            integration_id=str(r.id),
            tenant_id=str(r.tenant_id),
            provider=r.provider,
            display_name=r.display_name,
            settings=dict(r.settings or {}),
            silent_since=r.silent_since,
            last_contact=r.last_contact,
        )
        for r in rows
    ]


async def set_silent_since(
    session: AsyncSession, integration_id: str, *, expected: datetime | None, value: datetime | None
) -> bool:
    """Move ``silent_since`` from ``expected`` to ``value``; False if it had changed."""
    result = await session.execute(
        text(
            "UPDATE ingest.integrations SET silent_since = :value"
            " WHERE id = :i AND silent_since IS NOT DISTINCT FROM :expected"
        ),
        {"i": integration_id, "value": value, "expected": expected},
    )
    return bool(getattr(result, "rowcount", 0))
