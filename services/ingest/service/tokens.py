"""Issued-token use cases: record what IssueToken signed, list it, revoke it; and keep every
service's deny-list (the runtime's access bucket) in step with the registry."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from google.protobuf.message import Message

from services.ingest.domain.tokens import IssuedToken, MintedToken
from services.ingest.errors import TokenNotFound
from services.ingest.service.base import ADMIN_TENANT, ServiceBase
from services.ingest.store import tokens as store
from services.ingest.store.requests import requests
from triage.runtime import IdempotentReply

log = logging.getLogger(__name__)
#: The longest life a token can be given (IssueToken's and ``triage admin token``'s limit).
MAX_TOKEN_LIFE = timedelta(days=365)
#: The subject recorded for a revoked token this registry did not issue.
UNKNOWN_SUBJECT = "(not issued here; signed offline)"
#: Signs a token whose ``jti`` is the given id; answers the token and its granted scopes.
Signer = Callable[[str], tuple[str, Sequence[str]]]
M = TypeVar("M", bound=Message)


class TokenUseCases(ServiceBase):
    """Issued tokens and their revocation."""

    async def issue_token(
        self,
        *,
        tenant_id: str | None,
        subject: str,
        ttl: timedelta,
        sign: Signer,
        reply: IdempotentReply[MintedToken, M],
    ) -> M:
        """Sign a token and record its metadata in one transaction; a retry under the same
        ``request_id`` (and tenant) answers the first token instead of minting another."""
        # Remembered under the token's tenant, so deleting that tenant deletes the answer too.
        owner = tenant_id or ADMIN_TENANT
        async with self.db.system_transaction() as session:
            if (previous := await reply.replay(session, requests, owner)) is not None:
                return previous
            token_id = str(uuid.uuid4())
            issued_at = datetime.now(UTC)
            token, scopes = sign(token_id)
            # Recorded before the token is handed out, so every token in use can be listed.
            row = await store.insert_token(
                session,
                token_id=token_id,
                tenant_id=tenant_id,
                subject=subject,
                scopes=sorted(scopes),
                issued_at=issued_at,
                expires_at=issued_at + ttl,
            )
            return await reply.answer(session, requests, owner, MintedToken(token, row))

    async def revoke_token(self, *, token_id: str, by: str) -> IssuedToken:
        """Revoke a token (idempotent) and deny it on every service.

        A token this registry did not issue (``triage admin token`` signs offline) is
        recorded as revoked for the longest life a token can have.
        """
        now = datetime.now(UTC)
        async with self.db.system_transaction() as session:
            token = await store.revoke_token(session, token_id=token_id, at=now, by=by)
            if token is None:
                await store.insert_token(
                    session,
                    token_id=token_id,
                    tenant_id=None,
                    subject=UNKNOWN_SUBJECT,
                    scopes=[],
                    issued_at=now,
                    expires_at=now + MAX_TOKEN_LIFE,
                )
                token = await store.revoke_token(session, token_id=token_id, at=now, by=by)
        if token is None:
            raise TokenNotFound(f"no issued token {token_id}")
        if self.publisher is not None:
            # After commit: if this fails, the periodic sync publishes it (the table is
            # the truth, the bucket its mirror).
            await self.publisher.revoke(token.id, token.expires_at)
        return token

    async def list_tokens(
        self, *, tenant_id: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[IssuedToken]:
        """A page of issued tokens' metadata, optionally of one tenant."""
        async with self.db.system_transaction() as session:
            return await store.list_tokens(session, tenant_id=tenant_id, after=after, limit=limit)

    async def sync_access(self) -> None:
        """Publish every live revocation and the suspended tenants to the access bucket, and
        clear suspensions the registry no longer holds (heals a publish lost in a crash)."""
        if self.publisher is None:
            return
        async with self.db.system_transaction() as session:
            revoked = await store.live_revocations(session, datetime.now(UTC))
            suspended = set(await store.suspended_tenants(session))
        for token in revoked:
            await self.publisher.revoke(token.id, token.expires_at)
        for tenant_id in suspended:
            await self.publisher.suspend(tenant_id, suspended=True)
        for tenant_id in await self.publisher.suspended() - suspended:
            await self.publisher.suspend(tenant_id, suspended=False)
