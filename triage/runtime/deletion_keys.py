"""A deleted tenant is refused as deleted even when the access bucket forgot it.

The ``deleted.<tenant>`` keys of the access bucket (:mod:`triage.runtime.access_list`) are
a mirror; the durable truth is each schema's tombstones (:mod:`triage.runtime.tombstones`)
and ingest's deletion records. A tenant deleted before the keys existed, or whose key went
with a recreated bucket, would otherwise be refused as an unknown tenant
(``UNAUTHENTICATED``) instead of ``TENANT_DELETED``. So every service restores the keys of
the deletions it holds: into its own access list and the bucket as it starts, and into the
bucket every minute after (a bucket recreated under running replicas). A restore is
idempotent and publishes only what the bucket lacks (or holds as ``deleting`` when the
registry knows the deletion completed): nothing at all in the common case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from nats.js import JetStreamContext

from triage.runtime.access_list import (
    DELETED,
    DELETED_STATE,
    DELETING_STATE,
    AccessList,
    announce_deletion,
    keys_under,
    publish_deletion,
)
from triage.runtime.waiting import wait_event

log = logging.getLogger(__name__)

#: The deletions a service holds: tenant id -> whether the deletion completed (False
#: also when the service cannot tell: a tombstone says only that its own step began).
Source = Callable[[], Awaitable[Mapping[str, bool]]]


class DeletionKeys:
    """Restores the deletion keys of ``source``'s deletions (see the module docstring)."""

    def __init__(
        self,
        *,
        js: JetStreamContext,
        access: AccessList | None,
        source: Source,
        every_seconds: float = 60.0,
    ) -> None:
        """Restore ``source``'s deletions into ``access`` (this process) and the bucket."""
        self._js = js
        self._access = access
        self._source = source
        self.every_seconds = every_seconds
        self._wake = asyncio.Event()

    async def restore(self) -> int:
        """Put back every missing or stale deletion key; how many were published."""
        held = await self._source()
        if not held:
            return 0
        in_bucket = await keys_under(self._js, DELETED)
        published = 0
        for tenant_id, completed in held.items():
            local = self._access.deletion(tenant_id) if self._access is not None else None
            stale = completed and local != DELETED_STATE
            if self._access is not None and (local is None or stale):
                # At once here: calls must not wait for the publish to come back round.
                state = DELETED_STATE if completed else DELETING_STATE
                self._access.apply(f"{DELETED}{tenant_id}", state.encode())
            if completed and (stale or tenant_id not in in_bucket):
                await publish_deletion(self._js, tenant_id, completed=True)
            elif tenant_id not in in_bucket:
                await announce_deletion(self._js, tenant_id)
            else:
                continue
            published += 1
        if published:
            log.info("restored deletion keys", extra={"published": published})
        return published

    async def run(self) -> None:
        """Restore at start, then every ``every_seconds``, until cancelled."""
        while True:
            try:
                await self.restore()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("restoring deletion keys failed")
            self._wake.clear()
            await wait_event(self._wake, self.every_seconds)
