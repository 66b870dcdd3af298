"""What several use cases share: invalid input as one error, UUID fields, idempotent writes."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain import Violation
from services.rules.errors import RuleInvalid
from services.rules.store import requests
from triage.runtime import Database, FieldViolation, IdempotentReply, require_uuid

R = TypeVar("R")
M = TypeVar("M", bound=Message)


def invalid(violations: Iterable[Violation], path: Callable[[str], str]) -> RuleInvalid:
    """The error of every violation, each field named by ``path`` (how the caller names it)."""
    named = [FieldViolation(path(v.field_path), v.message) for v in violations]
    return RuleInvalid("; ".join(f"{v.field}: {v.description}" for v in named), violations=named)


def canonical_uuid(value: str, field: str) -> str:
    """``value`` in canonical form when it is a UUID; INVALID_ARGUMENT naming ``field``."""
    return str(uuid.UUID(require_uuid(value, field)))


async def once(
    db: Database,
    tenant_id: str,
    reply: IdempotentReply[R, M],
    work: Callable[[AsyncSession], Awaitable[R]],
) -> M:
    """Run ``work`` in one transaction of ``tenant_id`` and answer, unless the request was
    already answered: then its first answer, without running ``work`` (``triage.runtime.once``
    over the answered requests that ``store.requests`` keeps)."""
    async with db.transaction(tenant_id) as session:
        if (prior := await requests.replay(session, reply, tenant_id=tenant_id)) is not None:
            return prior
        result = await work(session)
        return await requests.answer(session, reply, tenant_id=tenant_id, result=result)
