"""Retention of finished deliveries."""

from __future__ import annotations

from datetime import timedelta

from services.notify.service.common import Clock
from services.notify.store.deliveries import delete_finished
from triage.runtime import Database


async def purge_finished(db: Database, *, clock: Clock, retention: timedelta) -> int:
    """Delete finished deliveries (and their attempts) older than ``retention``."""
    cutoff = clock() - retention
    async with db.system_transaction() as session:
        return await delete_finished(session, before=cutoff)
