"""``request_id`` on mutating RPCs: a retry within the retention returns the first answer."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, Table, Text, func, select
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

M = TypeVar("M", bound=Message)


def requests_table(metadata: MetaData) -> Table:
    """The table of answered requests, keyed by tenant, method and request id."""
    return Table(
        "requests",
        metadata,
        Column("tenant_id", UUID(as_uuid=False), primary_key=True),
        Column("method", Text, primary_key=True),
        Column("request_id", Text, primary_key=True),
        Column("response", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def replay(
    session: AsyncSession,
    table: Table,
    *,
    tenant_id: str,
    method: str,
    request_id: str,
    response_type: type[M],
) -> M | None:
    """The answer already given to this request, if any (``request_id`` empty: None)."""
    if not request_id:
        return None
    stored = (
        await session.execute(
            select(table.c.response).where(
                table.c.tenant_id == tenant_id,
                table.c.method == method,
                table.c.request_id == request_id,
            )
        )
    ).scalar_one_or_none()
    if stored is None:
        return None
    response = response_type()
    response.ParseFromString(stored)
    return response


async def remember(
    session: AsyncSession,
    table: Table,
    *,
    tenant_id: str,
    method: str,
    request_id: str,
    response: Message,
) -> None:
    """Record the answer in the same transaction as the effect."""
    if not request_id:
        return
    await session.execute(
        insert(table)
        .values(
            tenant_id=tenant_id,
            method=method,
            request_id=request_id,
            response=response.SerializeToString(),
        )
        .on_conflict_do_nothing()
    )
