"""``request_id`` on mutating RPCs: a retry within the retention returns the first answer.

A use case describes its answer with an :class:`IdempotentReply` and either runs its work
through :func:`once` or, inside a transaction it opened itself, calls
:meth:`IdempotentReply.replay` first and :meth:`IdempotentReply.answer` last. Both take the
service's :class:`RequestLog`, which its store builds over its ``requests`` table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Column, DateTime, LargeBinary, MetaData, Table, Text, func, select, text
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.db import Database

R = TypeVar("R")
M = TypeVar("M", bound=Message)

_REQUEST_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")


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


def request_lock_key(table: Table, *, tenant_id: str, method: str, request_id: str) -> str:
    """The advisory lock key of one request in ``table``'s schema."""
    # The tickets service used "tickets-request:..." before this helper; keeping the form
    # lets replicas of both releases serialize the same retries during a rollout.
    return f"{table.schema or table.name}-request:{tenant_id}:{method}:{request_id}"


@dataclass(frozen=True, slots=True)
class RequestLog:
    """A service's answered requests: what its ``store/requests.py`` builds over the
    service's ``requests`` table and hands to :func:`once` and :class:`IdempotentReply`, so
    use cases never name the table."""

    table: Table

    async def lock(
        self, session: AsyncSession, *, tenant_id: str, method: str, request_id: str
    ) -> None:
        """Serialize retries of one request until ``session``'s transaction ends."""
        key = request_lock_key(
            self.table, tenant_id=tenant_id, method=method, request_id=request_id
        )
        await session.execute(_REQUEST_LOCK, {"key": key})

    async def find(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        method: str,
        request_id: str,
        response_type: type[M],
    ) -> M | None:
        """The answer already given to this request, if any (``request_id`` empty: None)."""
        if not request_id:
            return None
        table = self.table
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
        self,
        session: AsyncSession,
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
            insert(self.table)
            .values(
                tenant_id=tenant_id,
                method=method,
                request_id=request_id,
                response=response.SerializeToString(),
            )
            .on_conflict_do_nothing()
        )


@dataclass(frozen=True, slots=True)
class IdempotentReply(Generic[R, M]):
    """How a mutation answers, and remembers its answer under the caller's ``request_id``.

    ``render`` turns the use case's result into the response stored under ``method``; an
    empty ``request_id`` asks for no idempotency (no lock, nothing stored).
    """

    method: str
    request_id: str
    response_type: type[M]
    render: Callable[[R], M]

    async def replay(self, session: AsyncSession, log: RequestLog, tenant_id: str) -> M | None:
        """The first answer to this request, if it was already handled.

        Holds a transaction-scoped lock on the request until ``session``'s transaction ends,
        so call it first in the transaction that makes the effect.
        """
        if not self.request_id:
            return None
        # Two concurrent retries of one request would both miss the replay; serialize them.
        await log.lock(session, tenant_id=tenant_id, method=self.method, request_id=self.request_id)
        return await log.find(
            session,
            tenant_id=tenant_id,
            method=self.method,
            request_id=self.request_id,
            response_type=self.response_type,
        )

    async def answer(self, session: AsyncSession, log: RequestLog, tenant_id: str, result: R) -> M:
        """Render ``result`` and remember it in the same transaction as the effect."""
        response = self.render(result)
        await log.remember(
            session,
            tenant_id=tenant_id,
            method=self.method,
            request_id=self.request_id,
            response=response,
        )
        return response


def built_reply(method: str, request_id: str, response_type: type[M]) -> IdempotentReply[M, M]:
    """The reply of work that builds its response itself: stored and returned as it is."""
    return IdempotentReply(method, request_id, response_type, _as_built)


def _as_built(response: M) -> M:
    return response


async def once(
    db: Database,
    log: RequestLog,
    tenant_id: str,
    reply: IdempotentReply[R, M],
    work: Callable[[AsyncSession], Awaitable[R]],
) -> M:
    """Run ``work`` in one transaction of ``tenant_id`` and answer, unless the request was
    already answered: then its first answer, without running ``work``."""
    async with db.transaction(tenant_id) as session:
        if (prior := await reply.replay(session, log, tenant_id)) is not None:
            return prior
        return await reply.answer(session, log, tenant_id, await work(session))
