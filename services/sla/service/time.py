"""Where the sla service gets "now" from, and how it waits: the real clock or a test clock."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from triage.runtime import wait_event


class TimeSource(Protocol):
    """A source of the current instant that the scheduler can sleep against."""

    def now(self) -> datetime:
        """The current instant (aware, UTC)."""
        ...

    async def sleep_until(self, instant: datetime | None, wake: asyncio.Event, idle: float) -> None:
        """Return at ``instant`` (None: no deadline), when ``wake`` is set, or after ``idle``
        real seconds, whichever comes first."""
        ...


async def _wait(event: asyncio.Event, seconds: float) -> None:
    await wait_event(event, seconds)


class SystemTime:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC instant."""
        return datetime.now(UTC)

    async def sleep_until(self, instant: datetime | None, wake: asyncio.Event, idle: float) -> None:
        """Sleep until ``instant``, a wake-up, or ``idle`` seconds."""
        seconds = idle
        if instant is not None:
            seconds = min(idle, (instant - self.now()).total_seconds())
        await _wait(wake, seconds)


class ManualTime:
    """A test clock that moves only when told to; sleepers wake when it passes their instant."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        """The set instant."""
        return self._now

    def set(self, instant: datetime) -> None:
        """Move to ``instant`` (never backwards) and wake every sleeper."""
        self._now = max(self._now, instant.astimezone(UTC))
        self._moved.set()
        self._moved = asyncio.Event()

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta``."""
        self.set(self._now + delta)

    async def sleep_until(self, instant: datetime | None, wake: asyncio.Event, idle: float) -> None:
        """Return once the clock reaches ``instant``, on a wake-up, or after ``idle`` real
        seconds."""
        deadline = time.monotonic() + idle
        while instant is None or self._now < instant:
            if wake.is_set():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            moved = self._moved
            waiter = asyncio.ensure_future(moved.wait())
            woken = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait(
                    [waiter, woken], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
                woken.cancel()
