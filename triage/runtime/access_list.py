"""Who may not call, right now: revoked tokens (by ``jti``), suspended and deleted tenants.

ingest owns the truth (its ``issued_tokens`` and ``tenants`` tables) and mirrors it into one
JetStream key-value bucket; every service watches the bucket and keeps the sets in memory,
so a revocation or suspension reaches every replica in milliseconds, and a service that
starts (or restarts) reads the whole bucket before it serves its first call. A revoked
token's key carries a per-key TTL equal to the token's remaining life (after which the
token is refused for expiry anyway), so the bucket holds only what still matters. A
deleted tenant's key (``deleted.<id>``, value ``deleting`` or ``deleted``) never expires:
its tokens, and services acting for it, must stay refused (:mod:`triage.runtime.tombstones`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

log = logging.getLogger(__name__)

BUCKET = "triage_access"
REVOKED = "revoked."
SUSPENDED = "suspended."
DELETED = "deleted."
#: A deleted tenant's state in the bucket: its deletion is under way, or completed.
DELETING_STATE = "deleting"
DELETED_STATE = "deleted"
#: A watcher that lost its subscription tries again after this long.
_RETRY_SECONDS = 1.0


class AccessList:
    """The in-memory deny sets one process checks on every call."""

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._revoked: dict[str, float] = {}
        self._suspended: set[str] = set()
        self._deleted: dict[str, str] = {}
        #: Called with a tenant id whenever its suspension changes (drops cached answers).
        self.on_tenant_change: list[Callable[[str], None]] = []

    def is_revoked(self, token_id: str) -> bool:
        """Whether the token with this ``jti`` was revoked (and has not expired since)."""
        expires = self._revoked.get(token_id)
        if expires is None:
            return False
        if expires <= self._now():
            self._revoked.pop(token_id, None)
            return False
        return True

    def is_suspended(self, tenant_id: str) -> bool:
        """Whether the tenant is suspended."""
        return tenant_id in self._suspended

    def deletion(self, tenant_id: str) -> str | None:
        """``deleting`` or ``deleted`` once the tenant's deletion was requested, else None."""
        return self._deleted.get(tenant_id)

    def suspended_now(self) -> frozenset[str]:
        """Every suspended tenant."""
        return frozenset(self._suspended)

    def barred_now(self) -> frozenset[str]:
        """Every tenant whose background work must not run: suspended (its timers and
        deliveries wait), being deleted or deleted (they would re-create its rows)."""
        return frozenset(self._suspended.union(self._deleted))

    def apply(self, key: str, value: bytes | None) -> None:
        """Fold one bucket entry in; ``value`` None means the key was deleted."""
        if key.startswith(REVOKED):
            token_id = key[len(REVOKED) :]
            if value is None:
                self._revoked.pop(token_id, None)
            else:
                try:
                    self._revoked[token_id] = float(value.decode())
                except ValueError:
                    log.warning("bad revocation entry", extra={"key": key})
        elif key.startswith(SUSPENDED):
            tenant_id = key[len(SUSPENDED) :]
            if value is None:
                self._suspended.discard(tenant_id)
            else:
                self._suspended.add(tenant_id)
            for listener in self.on_tenant_change:
                listener(tenant_id)
        elif key.startswith(DELETED):
            tenant_id = key[len(DELETED) :]
            if value is None:
                self._deleted.pop(tenant_id, None)
            else:
                self._deleted[tenant_id] = value.decode(errors="replace") or DELETING_STATE
            for listener in self.on_tenant_change:
                listener(tenant_id)


async def access_bucket(js: JetStreamContext) -> KeyValue:
    """The shared bucket, created on first use (idempotent across racing processes)."""
    try:
        return await js.key_value(BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(
            KeyValueConfig(bucket=BUCKET, history=1, storage=StorageType.FILE)
        )


async def keys_under(js: JetStreamContext, prefix: str) -> set[str]:
    """What follows ``prefix`` in every live key of the access bucket that starts with it."""
    kv = await access_bucket(js)
    # A watch of the subject itself: nats.py's ``keys(filters=...)`` reads every key and
    # matches the filter as a substring, so a ``>`` wildcard would match none.
    watcher = await kv.watch(f"{prefix}>", ignore_deletes=True, meta_only=True)
    found: set[str] = set()
    try:
        while (entry := await watcher.updates(timeout=10.0)) is not None:  # type: ignore[no-untyped-call]
            found.add(entry.key[len(prefix) :])
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
    return found


async def publish_revocation(js: JetStreamContext, token_id: str, expires_at: datetime) -> None:
    """Deny the token ``token_id`` everywhere until it expires."""
    remaining = expires_at.timestamp() - time.time()
    if remaining <= 0:
        return
    kv = await access_bucket(js)
    value = f"{expires_at.timestamp():.3f}".encode()
    with contextlib.suppress(KeyWrongLastSequenceError):
        # Already there: a replay of the same revocation.
        await kv.create(f"{REVOKED}{token_id}", value, msg_ttl=max(1.0, remaining + 1))


async def publish_suspension(js: JetStreamContext, tenant_id: str, *, suspended: bool) -> None:
    """Mark the tenant suspended (or not) for every service."""
    kv = await access_bucket(js)
    if suspended:
        await kv.put(f"{SUSPENDED}{tenant_id}", b"1")
    else:
        await kv.delete(f"{SUSPENDED}{tenant_id}")


async def publish_deletion(js: JetStreamContext, tenant_id: str, *, completed: bool) -> None:
    """Mark the tenant deleted (its deletion under way, or ``completed``) for every service."""
    kv = await access_bucket(js)
    await kv.put(f"{DELETED}{tenant_id}", (DELETED_STATE if completed else DELETING_STATE).encode())


async def announce_deletion(js: JetStreamContext, tenant_id: str) -> None:
    """Mark the tenant's deletion under way unless the bucket already knows of it (a
    service's deletion step must not turn a completed deletion back to ``deleting``)."""
    kv = await access_bucket(js)
    with contextlib.suppress(KeyWrongLastSequenceError):
        await kv.create(f"{DELETED}{tenant_id}", DELETING_STATE.encode())


class AccessWatcher:
    """Keeps an :class:`AccessList` in step with the bucket."""

    def __init__(self, js: JetStreamContext, access: AccessList) -> None:
        self._js = js
        self.access = access
        self._watcher: KeyValue.KeyWatcher | None = None
        self._stopped = False

    async def start(self) -> None:
        """Read the whole bucket (returns once the current state is loaded)."""
        kv = await access_bucket(self._js)
        self._watcher = await kv.watchall()
        while True:
            entry = await self._watcher.updates(timeout=10.0)  # type: ignore[no-untyped-call]
            if entry is None:
                return
            self._fold(entry)

    def _fold(self, entry: KeyValue.Entry) -> None:
        deleted = entry.operation in (KV_DEL, KV_PURGE)
        self.access.apply(entry.key, None if deleted else (entry.value or b""))

    async def run(self) -> None:
        """Follow the bucket until stopped (or cancelled); re-watch after a lost
        subscription, never after :meth:`stop` (which ends the watch it follows)."""
        while not self._stopped:
            try:
                if self._watcher is None:
                    await self.start()
                assert self._watcher is not None
                async for entry in self._watcher:
                    if entry is not None:
                        self._fold(entry)
                self._watcher = None
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._stopped:
                    return
                log.warning("access list watch lost; retrying", exc_info=True)
                self._watcher = None
                await asyncio.sleep(_RETRY_SECONDS)

    async def stop(self) -> None:
        """Stop watching: :meth:`run` returns once its watch has ended."""
        self._stopped = True
        if self._watcher is not None:
            with contextlib.suppress(Exception):
                await self._watcher.stop()  # type: ignore[no-untyped-call]


class AccessPublisher:
    """ingest's side: mirrors committed revocations and suspensions into the bucket
    (deletions are published by :mod:`triage.runtime.offboarding`)."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def revoke(self, token_id: str, expires_at: datetime) -> None:
        """Deny ``token_id`` everywhere until ``expires_at``."""
        await publish_revocation(self._js, token_id, expires_at)

    async def suspend(self, tenant_id: str, *, suspended: bool) -> None:
        """Suspend (or resume) ``tenant_id`` everywhere."""
        await publish_suspension(self._js, tenant_id, suspended=suspended)

    async def suspended(self) -> set[str]:
        """The tenants the bucket calls suspended now."""
        return await keys_under(self._js, SUSPENDED)
