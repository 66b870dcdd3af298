"""Answered requests of the bound tenant (``request_id`` idempotency): the runtime's reply
reads and records them in this service's ``requests`` table, in the caller's transaction."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.models import requests
from triage.runtime import IdempotentReply

R = TypeVar("R")
M = TypeVar("M", bound=Message)


async def replay(
    session: AsyncSession, reply: IdempotentReply[R, M], *, tenant_id: str
) -> M | None:
    """The first answer to ``reply``'s request, if it was already handled; locks the request
    until the transaction ends, so call it first in the transaction that makes the effect."""
    return await reply.replay(session, requests, tenant_id)


async def answer(
    session: AsyncSession, reply: IdempotentReply[R, M], *, tenant_id: str, result: R
) -> M:
    """Render ``result`` and remember it in the same transaction as the effect."""
    return await reply.answer(session, requests, tenant_id, result)
