"""The series log's retention: entries of alerts older than the streams keep are dropped.

``series_log`` takes one row per trigger and reset; only events that can still arrive late
need it. The streams keep events 7 days, so after ``keep`` (8 days by default) an entry
can only matter to an RMM replaying week-old alerts, which then apply as they arrive.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from services.tickets.store.series_log import purge_before
from triage.runtime import Database

log = logging.getLogger(__name__)

KEEP = timedelta(days=8)
BATCH = 5_000


async def purge_series_log(db: Database, *, keep: timedelta = KEEP, batch: int = BATCH) -> int:
    """One pass: delete entries older than ``keep``, ``batch`` rows a transaction."""
    before = datetime.now(UTC) - keep
    total = 0
    while True:
        async with db.system_transaction() as session:
            gone = await purge_before(session, before=before, limit=batch)
        total += gone
        if gone < batch:
            return total


async def run_series_log_retention(db: Database, *, every_seconds: float = 600.0) -> None:
    """Purge the series log every ``every_seconds`` (across replicas, a pass is idempotent)."""
    while True:
        try:
            gone = await purge_series_log(db)
            if gone:
                log.info("series log purged", extra={"rows": gone})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("series log retention pass failed", exc_info=True)
        await asyncio.sleep(every_seconds)
