"""Use cases of the notify API; each opens one transaction."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import store
from services.notify.clients import Sender
from services.notify.convert import ChannelSpec, sender_inputs, validate_spec
from services.notify.domain.breaker import BreakerPolicy
from services.notify.domain.model import AttemptResult, ChannelKind
from services.notify.models import requests
from services.notify.sendtest import check_sendable, sample_message
from triage.runtime import (
    Aborted,
    AlreadyExists,
    Database,
    FailedPrecondition,
    IdempotentReply,
    InvalidArgument,
    NotFound,
    Outbox,
    SecretBox,
    after_commit,
    built_reply,
    once,
)

M = TypeVar("M", bound=Message)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current instant in UTC."""
    return datetime.now(UTC)


def channel_aad(tenant_id: str, channel_id: str) -> bytes:
    """Associated data binding sealed secrets to their tenant and channel."""
    return f"notify.channel:{tenant_id}:{channel_id}".encode()


def seal(box: SecretBox, tenant_id: str, channel_id: str, secrets: Mapping[str, str]) -> bytes:
    """Encrypt a channel's secrets."""
    raw = json.dumps(dict(secrets), sort_keys=True).encode()
    return box.encrypt(raw, associated_data=channel_aad(tenant_id, channel_id))


def unseal(box: SecretBox, tenant_id: str, channel_id: str, blob: bytes) -> dict[str, str]:
    """Decrypt a channel's secrets."""
    raw = box.decrypt(bytes(blob), associated_data=channel_aad(tenant_id, channel_id))
    data: dict[str, str] = json.loads(raw)
    return data


def spec_of(box: SecretBox, row: Any) -> ChannelSpec:
    """The spec of a stored channel row, secrets decrypted."""
    return ChannelSpec(
        display_name=row["display_name"],
        kind=ChannelKind(row["kind"]),
        config=dict(row["config"]),
        secrets=unseal(box, str(row["tenant_id"]), str(row["id"]), row["secrets"]),
        disabled=row["disabled"],
        quiet_hours=row["quiet_hours"],
        rate_limit=row["rate_limit"],
        digest=row["digest"],
        template=row["template"],
    )


def require_uuid(value: str, field: str) -> str:
    """``value`` if it is a UUID, else INVALID_ARGUMENT on ``field``."""
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise InvalidArgument.field(field, "must be a UUID") from exc
    return value


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def check_etag(etag: str, row: Any) -> None:
    """ABORTED if a given etag is not the row's current one."""
    if etag and etag != str(row["version"]):
        raise Aborted("the resource changed; read it again", reason="STALE_ETAG")


@dataclass(frozen=True, slots=True)
class ChannelView:
    """A stored channel: its row (with breaker state) and spec."""

    row: Any
    spec: ChannelSpec


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What a test send returned."""

    result: AttemptResult
    latency: float


class NotifyService:
    """Channels, policies and deliveries for the API."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        box: SecretBox,
        senders: Mapping[ChannelKind, Sender],
        wake: Callable[[], None],
        clock: Clock = utcnow,
        breaker: BreakerPolicy | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.box = box
        self.senders = senders
        self.wake = wake
        self.clock = clock
        self.breaker = breaker or BreakerPolicy()

    # -- channels ---------------------------------------------------------------------

    def _channel_values(
        self, tenant_id: str, channel_id: str, spec: ChannelSpec, destination: str
    ) -> dict[str, Any]:
        """The stored columns of a channel that creating and updating both write."""
        return {
            "display_name": spec.display_name,
            "config": spec.config,
            "secrets": seal(self.box, tenant_id, channel_id, spec.secrets),
            "destination": destination,
            "disabled": spec.disabled,
            "quiet_hours": spec.quiet_hours,
            "rate_limit": spec.rate_limit,
            "digest": spec.digest,
            "template": spec.template,
        }

    async def create_channel(
        self,
        *,
        tenant_id: str,
        spec: ChannelSpec,
        request_id: str,
        respond: Callable[[ChannelView], M],
        response_type: type[M],
    ) -> M:
        """Validate, seal the secrets and store a channel."""
        destination = validate_spec(spec, self.senders[spec.kind])
        try:

            async def work(session: AsyncSession) -> M:
                channel_id = str(uuid.uuid4())
                row = await store.insert_channel(
                    session,
                    values={
                        "id": channel_id,
                        "tenant_id": tenant_id,
                        "kind": spec.kind.value,
                        **self._channel_values(tenant_id, channel_id, spec, destination),
                    },
                )
                return respond(ChannelView({**row, "breaker_state": "closed"}, spec))

            reply = built_reply("CreateChannel", request_id, response_type)
            return await once(self.db, requests, tenant_id, reply, work)
        except IntegrityError as exc:
            raise AlreadyExists(
                f"a channel named {spec.display_name!r} exists", reason="CHANNEL_NAME_TAKEN"
            ) from exc

    async def get_channel(self, *, tenant_id: str, channel_id: str) -> ChannelView:
        """One channel of the tenant."""
        async with self.db.transaction(tenant_id) as session:
            row = await self._channel(session, tenant_id, channel_id)
        return ChannelView(row, spec_of(self.box, row))

    async def _channel(
        self, session: AsyncSession, tenant_id: str, channel_id: str, *, for_update: bool = False
    ) -> Any:
        row = None
        if _is_uuid(channel_id):
            row = await store.get_channel(
                session, tenant_id=tenant_id, channel_id=channel_id, for_update=for_update
            )
        if row is None:
            raise NotFound(f"channel {channel_id!r} not found")
        return row

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
        request_id: str,
        respond: Callable[[ChannelView], M],
        response_type: type[M],
    ) -> M:
        """Apply ``patch`` to the stored spec, validate, and store it."""
        try:

            async def work(session: AsyncSession) -> M:
                row = await self._channel(session, tenant_id, channel_id, for_update=True)
                check_etag(etag, row)
                spec = patch(spec_of(self.box, row))
                destination = validate_spec(spec, self.senders[spec.kind])
                await store.update_channel(
                    session,
                    tenant_id=tenant_id,
                    channel_id=channel_id,
                    values=self._channel_values(tenant_id, channel_id, spec, destination),
                )
                fresh = await self._channel(session, tenant_id, channel_id)
                after_commit(session, self.wake)
                return respond(ChannelView(fresh, spec))

            reply = built_reply("UpdateChannel", request_id, response_type)
            return await once(self.db, requests, tenant_id, reply, work)
        except IntegrityError as exc:
            raise AlreadyExists(
                "another channel has that name", reason="CHANNEL_NAME_TAKEN"
            ) from exc

    async def delete_channel(
        self,
        *,
        tenant_id: str,
        channel_id: str,
        etag: str,
        request_id: str,
        respond: Callable[[], M],
        response_type: type[M],
    ) -> M:
        """Delete a channel no policy names."""

        async def work(session: AsyncSession) -> M:
            row = await self._channel(session, tenant_id, channel_id, for_update=True)
            check_etag(etag, row)
            if await store.policies_naming(session, tenant_id=tenant_id, channel_id=channel_id):
                raise FailedPrecondition(
                    "a notification policy delivers to this channel; change it first",
                    reason="CHANNEL_IN_USE",
                )
            await store.delete_channel(session, tenant_id=tenant_id, channel_id=channel_id)
            return respond()

        reply = built_reply("DeleteChannel", request_id, response_type)
        return await once(self.db, requests, tenant_id, reply, work)

    async def send_test(
        self,
        *,
        tenant_id: str,
        channel_id: str,
        text: str,
        request_id: str,
        respond: Callable[[TestOutcome], M],
        response_type: type[M],
    ) -> M:
        """Send a synthetic message now and report the outcome (a retry does not resend)."""
        reply = IdempotentReply("SendTestNotification", request_id, response_type, respond)
        async with self.db.transaction(tenant_id) as session:
            if (previous := await reply.replay(session, requests, tenant_id)) is not None:
                return previous
            row = await self._channel(session, tenant_id, channel_id)
            await check_sendable(session, row=row, now=self.clock(), policy=self.breaker)
        spec = spec_of(self.box, row)
        message = sample_message(spec, tenant_id=tenant_id, text=text, now=self.clock())
        config, secrets = sender_inputs(spec)
        started = time.perf_counter()
        result = await self.senders[spec.kind].send(message, config, secrets)
        outcome = TestOutcome(result, result.latency or time.perf_counter() - started)
        if not request_id:
            return respond(outcome)
        async with self.db.transaction(tenant_id) as session:
            return await reply.answer(session, requests, tenant_id, outcome)

    # -- policies ---------------------------------------------------------------------

    async def create_policy(
        self,
        *,
        tenant_id: str,
        values: dict[str, Any],
        validate: Callable[[set[str]], None],
        request_id: str,
        respond: Callable[[Any], M],
        response_type: type[M],
    ) -> M:
        """Store a policy whose channels exist in the tenant."""

        async def work(session: AsyncSession) -> M:
            known = await store.channels_by_id(
                session,
                tenant_id=tenant_id,
                channel_ids=[c for c in values["channel_ids"] if _is_uuid(c)],
            )
            validate(set(known))
            row = await store.insert_policy(
                session, values={**values, "id": str(uuid.uuid4()), "tenant_id": tenant_id}
            )
            return respond(row)

        reply = built_reply("CreateNotificationPolicy", request_id, response_type)
        return await once(self.db, requests, tenant_id, reply, work)

    async def _policy(
        self, session: AsyncSession, tenant_id: str, policy_id: str, *, for_update: bool = False
    ) -> Any:
        row = None
        if _is_uuid(policy_id):
            row = await store.get_policy(
                session, tenant_id=tenant_id, policy_id=policy_id, for_update=for_update
            )
        if row is None:
            raise NotFound(f"notification policy {policy_id!r} not found")
        return row

    async def get_policy(self, *, tenant_id: str, policy_id: str) -> Any:
        """One policy of the tenant."""
        async with self.db.transaction(tenant_id) as session:
            return await self._policy(session, tenant_id, policy_id)

    async def list_policies(
        self,
        *,
        tenant_id: str,
        channel_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Any]:
        """A page of policies."""
        if channel_id and not _is_uuid(channel_id):
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
        patch: Callable[[Any], dict[str, Any]],
        validate: Callable[[dict[str, Any], set[str]], None],
        request_id: str,
        respond: Callable[[Any], M],
        response_type: type[M],
    ) -> M:
        """Apply ``patch`` (new column values from the stored row) and store it."""

        async def work(session: AsyncSession) -> M:
            row = await self._policy(session, tenant_id, policy_id, for_update=True)
            check_etag(etag, row)
            values = patch(row)
            known = await store.channels_by_id(
                session,
                tenant_id=tenant_id,
                channel_ids=[c for c in values["channel_ids"] if _is_uuid(c)],
            )
            validate(values, set(known))
            fresh = await store.update_policy(
                session, tenant_id=tenant_id, policy_id=policy_id, values=values
            )
            return respond(fresh)

        reply = built_reply("UpdateNotificationPolicy", request_id, response_type)
        return await once(self.db, requests, tenant_id, reply, work)

    async def delete_policy(
        self,
        *,
        tenant_id: str,
        policy_id: str,
        etag: str,
        request_id: str,
        respond: Callable[[], M],
        response_type: type[M],
    ) -> M:
        """Delete a policy."""

        async def work(session: AsyncSession) -> M:
            row = await self._policy(session, tenant_id, policy_id, for_update=True)
            check_etag(etag, row)
            await store.delete_policy(session, tenant_id=tenant_id, policy_id=policy_id)
            return respond()

        reply = built_reply("DeleteNotificationPolicy", request_id, response_type)
        return await once(self.db, requests, tenant_id, reply, work)

    # -- deliveries -------------------------------------------------------------------

    async def list_deliveries(
        self,
        *,
        tenant_id: str,
        filters: dict[str, Any],
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[tuple[Any, list[Any]]]:
        """A page of deliveries, each with its last attempt."""
        async with self.db.transaction(tenant_id) as session:
            rows = await store.list_deliveries(
                session, tenant_id=tenant_id, after=after, limit=limit, **filters
            )
            last = await store.attempts_of(
                session,
                tenant_id=tenant_id,
                delivery_ids=[str(r["id"]) for r in rows],
                last_only=True,
            )
        return [(r, last.get(str(r["id"]), [])) for r in rows]

    async def get_delivery(self, *, tenant_id: str, delivery_id: str) -> tuple[Any, list[Any]]:
        """One delivery with all its attempts."""
        async with self.db.transaction(tenant_id) as session:
            row = await self._delivery(session, tenant_id, delivery_id)
            attempts = await store.attempts_of(
                session, tenant_id=tenant_id, delivery_ids=[delivery_id], last_only=False
            )
        return row, attempts.get(delivery_id, [])

    async def _delivery(
        self, session: AsyncSession, tenant_id: str, delivery_id: str, *, for_update: bool = False
    ) -> Any:
        row = None
        if _is_uuid(delivery_id):
            row = await store.get_delivery(
                session, tenant_id=tenant_id, delivery_id=delivery_id, for_update=for_update
            )
        if row is None:
            raise NotFound(f"delivery {delivery_id!r} not found")
        return row

    async def retry_delivery(
        self,
        *,
        tenant_id: str,
        delivery_id: str,
        request_id: str,
        respond: Callable[[Any, Sequence[Any]], M],
        response_type: type[M],
    ) -> M:
        """Queue a FAILED or DEAD delivery for an attempt now; wakes the worker."""

        async def work(session: AsyncSession) -> M:
            row = await self._delivery(session, tenant_id, delivery_id, for_update=True)
            if row["status"] not in ("failed", "dead"):
                raise FailedPrecondition(
                    f"delivery is {row['status']}; only failed or dead ones can be retried",
                    reason="DELIVERY_NOT_RETRYABLE",
                )
            fresh = await store.requeue_delivery(
                session, tenant_id=tenant_id, delivery_id=delivery_id, now=self.clock()
            )
            attempts = await store.attempts_of(
                session, tenant_id=tenant_id, delivery_ids=[delivery_id], last_only=True
            )
            after_commit(session, self.wake)
            return respond(fresh, attempts.get(delivery_id, []))

        reply = built_reply("RetryDelivery", request_id, response_type)
        return await once(self.db, requests, tenant_id, reply, work)
