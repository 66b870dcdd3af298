"""Queries over ``issued_tokens``. Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.tokens import IssuedToken
from services.ingest.models import issued_tokens, tenants

c = issued_tokens.c


def _token(row: Row[Any]) -> IssuedToken:
    values = dict(row._mapping)
    values["scopes"] = tuple(values["scopes"])
    return IssuedToken(**values)


async def insert_token(
    session: AsyncSession,
    *,
    token_id: str,
    tenant_id: str | None,
    subject: str,
    scopes: list[str],
    issued_at: datetime,
    expires_at: datetime,
) -> IssuedToken:
    """Record an issued token's metadata."""
    row = (
        await session.execute(
            issued_tokens.insert()
            .values(
                id=token_id,
                tenant_id=tenant_id,
                subject=subject,
                scopes=scopes,
                issued_at=issued_at,
                expires_at=expires_at,
            )
            .returning(*issued_tokens.c)
        )
    ).one()
    return _token(row)


async def get_token(session: AsyncSession, token_id: str) -> IssuedToken | None:
    """One issued token's metadata."""
    row = (await session.execute(select(issued_tokens).where(c.id == token_id))).first()
    return _token(row) if row is not None else None


async def revoke_token(
    session: AsyncSession, *, token_id: str, at: datetime, by: str
) -> IssuedToken | None:
    """Mark the token revoked (the first revocation's time and actor stay)."""
    row = (
        await session.execute(
            update(issued_tokens)
            .where(c.id == token_id, c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by)
            .returning(*issued_tokens.c)
        )
    ).first()
    return _token(row) if row is not None else await get_token(session, token_id)


async def list_tokens(
    session: AsyncSession,
    *,
    tenant_id: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[IssuedToken]:
    """A page of issued tokens, oldest first, optionally of one tenant (owner session)."""
    query = select(issued_tokens)
    if tenant_id is not None:
        query = query.where(c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(
            or_(c.issued_at > after[0], and_(c.issued_at == after[0], c.id > after[1]))
        )
    rows = (await session.execute(query.order_by(c.issued_at, c.id).limit(limit))).all()
    return [_token(r) for r in rows]


async def live_revocations(session: AsyncSession, now: datetime) -> list[IssuedToken]:
    """Revoked tokens that have not expired yet (what every service must still refuse)."""
    rows = (
        await session.execute(
            select(issued_tokens).where(c.revoked_at.is_not(None), c.expires_at > now)
        )
    ).all()
    return [_token(r) for r in rows]


async def suspended_tenants(session: AsyncSession) -> list[str]:
    """The ids of every suspended tenant (owner session)."""
    rows = (await session.execute(select(tenants.c.id).where(tenants.c.state == "suspended"))).all()
    return [str(r[0]) for r in rows]
