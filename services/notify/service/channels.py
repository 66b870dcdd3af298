"""Channel use cases: create, read, change, delete, and send a test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.clients import Sender
from services.notify.domain.breaker import BreakerPolicy
from services.notify.domain.channel import ChannelSpec
from services.notify.domain.model import ChannelKind
from services.notify.domain.records import ChannelRow, ChannelView, SealedChannel, TestOutcome
from services.notify.domain.sending import sender_inputs
from services.notify.errors import ChannelInUse, ChannelNameTaken, ChannelNotFound, StaleEtag
from services.notify.service.common import Clock, seal, spec_of, utcnow
from services.notify.service.sendtest import check_sendable, sample_message
from services.notify.store import channels as store
from services.notify.store.policies import policies_naming
from services.notify.store.requests import requests
from triage.runtime import (
    Database,
    IdempotentReply,
    SecretBox,
    after_commit,
    check_etag,
    is_uuid,
    once,
)

M = TypeVar("M", bound=Message)
#: Checks a spec for its kind's sender; returns the destination (INVALID_ARGUMENT if bad).
Validate = Callable[[ChannelSpec, Sender], str]


async def find_channel(
    session: AsyncSession, tenant_id: str, channel_id: str, *, for_update: bool = False
) -> ChannelRow:
    """The tenant's channel; NOT_FOUND (also for an id that is no UUID)."""
    row = None
    if is_uuid(channel_id):
        row = await store.get_channel(
            session, tenant_id=tenant_id, channel_id=channel_id, for_update=for_update
        )
    if row is None:
        raise ChannelNotFound(channel_id)
    return row


class Channels:
    """The tenant's notification channels."""

    def __init__(
        self,
        *,
        db: Database,
        box: SecretBox,
        senders: Mapping[ChannelKind, Sender],
        wake: Callable[[], None],
        clock: Clock = utcnow,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.senders = senders
        self.wake = wake
        self.clock = clock
        self.breaker = breaker or BreakerPolicy()

    def _sealed(
        self, tenant_id: str, channel_id: str, spec: ChannelSpec, destination: str
    ) -> SealedChannel:
        """The stored columns of a channel that creating and updating both write."""
        return SealedChannel(
            display_name=spec.display_name,
            config=spec.config,
            secrets=seal(self.box, tenant_id, channel_id, spec.secrets),
            destination=destination,
            disabled=spec.disabled,
            quiet_hours=spec.quiet_hours,
            rate_limit=spec.rate_limit,
            digest=spec.digest,
            template=spec.template,
            is_default=spec.default,
        )

    async def create_channel(
        self,
        *,
        tenant_id: str,
        spec: ChannelSpec,
        validate: Validate,
        reply: IdempotentReply[ChannelView, M],
    ) -> M:
        """Validate, seal the secrets and store a channel."""
        destination = validate(spec, self.senders[spec.kind])
        try:

            async def work(session: AsyncSession) -> ChannelView:
                channel_id = str(uuid.uuid4())
                row = await store.insert_channel(
                    session,
                    channel_id=channel_id,
                    tenant_id=tenant_id,
                    kind=spec.kind.value,
                    sealed=self._sealed(tenant_id, channel_id, spec, destination),
                )
                return ChannelView(_closed(row), spec)

            return await once(self.db, requests, tenant_id, reply, work)
        except IntegrityError as exc:
            raise ChannelNameTaken(f"a channel named {spec.display_name!r} exists") from exc

    async def get_channel(self, *, tenant_id: str, channel_id: str) -> ChannelView:
        """One channel of the tenant."""
        async with self.db.transaction(tenant_id) as session:
            row = await find_channel(session, tenant_id, channel_id)
        return ChannelView(row, spec_of(self.box, row))

    async def list_channels(
        self, *, tenant_id: str, kind: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[ChannelView]:
        """A page of channels."""
        async with self.db.transaction(tenant_id) as session:
            rows = await store.list_channels(
                session, tenant_id=tenant_id, kind=kind, after=after, limit=limit
            )
        return [ChannelView(r, spec_of(self.box, r)) for r in rows]

    async def update_channel(
        self,
        *,
        tenant_id: str,
        channel_id: str,
        etag: str,
        patch: Callable[[ChannelSpec], ChannelSpec],
        validate: Validate,
        reply: IdempotentReply[ChannelView, M],
    ) -> M:
        """Apply ``patch`` to the stored spec, validate, and store it."""
        try:

            async def work(session: AsyncSession) -> ChannelView:
                row = await find_channel(session, tenant_id, channel_id, for_update=True)
                check_etag(etag, str(row.version), StaleEtag)
                spec = patch(spec_of(self.box, row))
                destination = validate(spec, self.senders[spec.kind])
                await store.update_channel(
                    session,
                    tenant_id=tenant_id,
                    channel_id=channel_id,
                    sealed=self._sealed(tenant_id, channel_id, spec, destination),
                )
                fresh = await find_channel(session, tenant_id, channel_id)
                after_commit(session, self.wake)
                return ChannelView(fresh, spec)

            return await once(self.db, requests, tenant_id, reply, work)
        except IntegrityError as exc:
            raise ChannelNameTaken("another channel has that name") from exc

    async def delete_channel(
        self, *, tenant_id: str, channel_id: str, etag: str, reply: IdempotentReply[None, M]
    ) -> M:
        """Delete a channel no policy names."""

        async def work(session: AsyncSession) -> None:
            row = await find_channel(session, tenant_id, channel_id, for_update=True)
            check_etag(etag, str(row.version), StaleEtag)
            if await policies_naming(session, tenant_id=tenant_id, channel_id=channel_id):
                raise ChannelInUse()
            await store.delete_channel(session, tenant_id=tenant_id, channel_id=channel_id)

        return await once(self.db, requests, tenant_id, reply, work)

    async def send_test(
        self,
        *,
        tenant_id: str,
        channel_id: str,
        text: str,
        reply: IdempotentReply[TestOutcome, M],
    ) -> M:
        """Send a synthetic message now and report the outcome (a retry does not resend)."""
        async with self.db.transaction(tenant_id) as session:
            if (previous := await reply.replay(session, requests, tenant_id)) is not None:
                return previous
            row = await find_channel(session, tenant_id, channel_id)
            await check_sendable(session, row=row, now=self.clock(), policy=self.breaker)
        spec = spec_of(self.box, row)
        message = sample_message(spec, tenant_id=tenant_id, text=text, now=self.clock())
        config, secrets = sender_inputs(spec)
        started = time.perf_counter()
        result = await self.senders[spec.kind].send(message, config, secrets)
        outcome = TestOutcome(result, result.latency or time.perf_counter() - started)
        if not reply.request_id:
            return reply.render(outcome)
        async with self.db.transaction(tenant_id) as session:
            return await reply.answer(session, requests, tenant_id, outcome)


def _closed(row: ChannelRow) -> ChannelRow:
    """A new channel's row as read back: its breaker closed."""
    return replace(row, breaker_state="closed")
