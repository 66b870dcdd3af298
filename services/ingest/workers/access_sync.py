"""Mirrors the registry's revocations and suspensions into every service's deny-list.

A revocation or suspension is published right after its commit; this loop publishes the
whole set at start and every minute, so one lost after a crash between the commit and the
publish (or after a NATS loss) is restored within a minute.
"""

from __future__ import annotations

import asyncio
import logging

from services.ingest.service.tokens import TokenUseCases
from triage.runtime import wait_event

log = logging.getLogger(__name__)


class AccessSyncWorker:
    """Re-publishes the deny-list from ingest's tables."""

    def __init__(self, *, service: TokenUseCases, every_seconds: float = 60.0) -> None:
        """A worker over ``service``."""
        self.service = service
        self.every_seconds = every_seconds
        self._wake = asyncio.Event()

    async def run(self) -> None:
        """Sync until cancelled."""
        while True:
            try:
                await self.service.sync_access()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("access list sync failed")
            self._wake.clear()
            await wait_event(self._wake, self.every_seconds)
