"""Attempts: one row per send of a delivery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.records import AttemptRow
from services.notify.models import attempts
from services.notify.store.rows import row_of


async def attempts_of(
    session: AsyncSession, *, tenant_id: str, delivery_ids: Sequence[str], last_only: bool
) -> dict[str, list[AttemptRow]]:
    """Attempts per delivery, oldest first (or only the last one)."""
    if not delivery_ids:
        return {}
    a = attempts.c
    query = select(*attempts.c).where(a.tenant_id == tenant_id, a.delivery_id.in_(delivery_ids))
    if last_only:
        query = query.ext(distinct_on(a.delivery_id)).order_by(a.delivery_id, a.number.desc())
    else:
        query = query.order_by(a.delivery_id, a.number)
    out: dict[str, list[AttemptRow]] = {}
    for row in (await session.execute(query)).all():
        out.setdefault(str(row.delivery_id), []).append(row_of(AttemptRow, row))
    return out


async def insert_attempt(
    session: AsyncSession,
    *,
    delivery_id: str,
    tenant_id: str,
    number: int,
    started_at: datetime,
    latency_seconds: float,
    success: bool,
    error_class: str | None,
    error_message: str | None,
    response_code: int | None,
    provider_request_id: str | None,
    retry_after_seconds: float | None,
) -> AttemptRow:
    """Record one attempt and return it."""
    row = (
        await session.execute(
            attempts.insert()
            .values(
                delivery_id=delivery_id,
                tenant_id=tenant_id,
                number=number,
                started_at=started_at,
                latency_seconds=latency_seconds,
                success=success,
                error_class=error_class,
                error_message=error_message,
                response_code=response_code,
                provider_request_id=provider_request_id,
                retry_after_seconds=retry_after_seconds,
            )
            .returning(*attempts.c)
        )
    ).one()
    return row_of(AttemptRow, row)
