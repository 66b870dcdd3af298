"""One publishing relay per service: the holder of a PostgreSQL advisory lock.

Per key, outbox ids follow commit order (the row an event describes is locked before its
outbox insert), so one relay publishing in id order puts every key's events on the stream
in commit order, whichever replica committed them. Relays of several replicas publishing
their own commits at once could not: a replica's later commit could overtake another's
earlier one. The leader holds a session-level advisory lock on a connection of its own,
released by PostgreSQL the moment that connection (or the process) dies; the others try
again every second. Followers tell the leader about their commits with ``NOTIFY``; the
leader listens on its lock connection and reads the database queue when told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from triage.runtime.db import Database

log = logging.getLogger(__name__)


class RelayLeadership:
    """Whether this process's relay is the service's publisher, and word between relays."""

    def __init__(self, db: Database, *, retry_seconds: float = 1.0) -> None:
        self._db = db
        self._retry = retry_seconds
        self.channel = f"triage_outbox_{db.schema}"
        self._notify_sql = text("SELECT pg_notify(:channel, '')")
        self.is_leader = False

    async def run(self, on_notify: Callable[[], None]) -> None:
        """Hold or wait for the lock; while leading, call ``on_notify`` on each NOTIFY."""
        while True:
            conn: Any = None
            try:
                conn = await self._db.connect_raw()
                await conn.set_autocommit(True)
                await conn.execute(f"LISTEN {self.channel}")
                while True:
                    if not self.is_leader:
                        cur = await conn.execute(
                            "SELECT pg_try_advisory_lock(hashtext(%s))", (self.channel,)
                        )
                        row = await cur.fetchone()
                        if row and row[0]:
                            self._lead(on_notify)
                    async for _ in conn.notifies(timeout=self._retry):
                        if self.is_leader:
                            on_notify()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("relay leadership lost its connection", exc_info=True)
                await asyncio.sleep(self._retry)
            finally:
                self.is_leader = False
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()

    def _lead(self, on_notify: Callable[[], None]) -> None:
        self.is_leader = True
        log.info("this replica's relay publishes the outbox", extra={"channel": self.channel})
        on_notify()  # what followers committed before this one led

    async def notify(self) -> None:
        """Tell the leader that rows are waiting in the queue (followers, after commits)."""
        async with self._db.system_transaction() as session:
            await session.execute(self._notify_sql, {"channel": self.channel})
