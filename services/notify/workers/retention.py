"""The retention loop: finished deliveries (and their attempts) go after the retention."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.notify.service.common import Clock
from services.notify.service.retention import purge_finished
from triage.runtime import Database

log = logging.getLogger(__name__)


async def run_retention(
    db: Database, *, clock: Clock, retention: timedelta, every_seconds: float
) -> None:
    """Delete old finished deliveries now and every ``every_seconds`` (a pass is idempotent
    across replicas)."""
    while True:
        try:
            gone = await purge_finished(db, clock=clock, retention=retention)
            if gone:
                log.info("finished deliveries purged", extra={"rows": gone})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("delivery retention pass failed", exc_info=True)
        await asyncio.sleep(every_seconds)
