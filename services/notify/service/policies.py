"""Notification policy use cases: create, read, change, delete."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.domain.records import PolicyDraft, PolicyRow
from services.notify.errors import PolicyNotFound, StaleEtag
from services.notify.store import policies as store
from services.notify.store.channels import channels_by_id
from services.notify.store.requests import requests
from triage.runtime import Database, IdempotentReply, check_etag, is_uuid, once

M = TypeVar("M", bound=Message)


async def _find(
    session: AsyncSession, tenant_id: str, policy_id: str, *, for_update: bool = False
) -> PolicyRow:
    row = None
    if is_uuid(policy_id):
        row = await store.get_policy(
            session, tenant_id=tenant_id, policy_id=policy_id, for_update=for_update
        )
    if row is None:
        raise PolicyNotFound(policy_id)
    return row


async def _known_channels(session: AsyncSession, tenant_id: str, ids: list[str]) -> set[str]:
    known = await channels_by_id(
        session, tenant_id=tenant_id, channel_ids=[c for c in ids if is_uuid(c)]
    )
    return set(known)


class Policies:
    """The tenant's notification policies."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    async def create_policy(
        self,
        *,
        tenant_id: str,
        draft: PolicyDraft,
        validate: Callable[[set[str]], None],
        reply: IdempotentReply[PolicyRow, M],
    ) -> M:
        """Store a policy whose channels exist in the tenant."""

        async def work(session: AsyncSession) -> PolicyRow:
            validate(await _known_channels(session, tenant_id, draft.channel_ids))
            return await store.insert_policy(
                session, policy_id=str(uuid.uuid4()), tenant_id=tenant_id, draft=draft
            )

        return await once(self.db, requests, tenant_id, reply, work)

    async def get_policy(self, *, tenant_id: str, policy_id: str) -> PolicyRow:
        """One policy of the tenant."""
        async with self.db.transaction(tenant_id) as session:
            return await _find(session, tenant_id, policy_id)

    async def list_policies(
        self,
        *,
        tenant_id: str,
        channel_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[PolicyRow]:
        """A page of policies."""
        if channel_id and not is_uuid(channel_id):
            return []
        async with self.db.transaction(tenant_id) as session:
            return await store.list_policies(
                session, tenant_id=tenant_id, channel_id=channel_id, after=after, limit=limit
            )

    async def update_policy(
        self,
        *,
        tenant_id: str,
        policy_id: str,
        etag: str,
        patch: Callable[[PolicyRow], PolicyDraft],
        validate: Callable[[PolicyDraft, set[str]], None],
        reply: IdempotentReply[PolicyRow, M],
    ) -> M:
        """Apply ``patch`` (the new values, from the stored row) and store it."""

        async def work(session: AsyncSession) -> PolicyRow:
            row = await _find(session, tenant_id, policy_id, for_update=True)
            check_etag(etag, str(row.version), StaleEtag)
            draft = patch(row)
            validate(draft, await _known_channels(session, tenant_id, draft.channel_ids))
            return await store.update_policy(
                session, tenant_id=tenant_id, policy_id=policy_id, draft=draft
            )

        return await once(self.db, requests, tenant_id, reply, work)

    async def delete_policy(
        self, *, tenant_id: str, policy_id: str, etag: str, reply: IdempotentReply[None, M]
    ) -> M:
        """Delete a policy."""

        async def work(session: AsyncSession) -> None:
            row = await _find(session, tenant_id, policy_id, for_update=True)
            check_etag(etag, str(row.version), StaleEtag)
            await store.delete_policy(session, tenant_id=tenant_id, policy_id=policy_id)

        return await once(self.db, requests, tenant_id, reply, work)
