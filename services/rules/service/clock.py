"""Clocks for the window-end task: the real one, and a manual one tests move by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

from triage.runtime import wait_event


class Clock(Protocol):
    """What deciding and the window-end task need to know about time."""

    def now(self) -> datetime:
        """The current instant (aware, UTC)."""
        ...

    async def sleep_until(self, deadline: datetime, wake: asyncio.Event) -> None:
        """Return at ``deadline`` or as soon as ``wake`` is set, whichever is first."""
        ...


class SystemClock:
    """Wall-clock time; sleeps are capped so other replicas' changes are seen promptly."""

    def __init__(self, max_sleep: timedelta = timedelta(seconds=30)) -> None:
        self._max_sleep = max_sleep

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(UTC)

    async def sleep_until(self, deadline: datetime, wake: asyncio.Event) -> None:
        """Sleep until ``deadline`` (at most ``max_sleep``) or until woken."""
        seconds = min((deadline - self.now()).total_seconds(), self._max_sleep.total_seconds())
        if seconds <= 0:
            return
        await wait_event(wake, seconds)


class ManualClock:
    """A clock that only moves when told to; sleepers wake when it passes their deadline."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        """The instant the clock was last set to."""
        return self._now

    def set(self, moment: datetime) -> None:
        """Move the clock to ``moment`` and wake every sleeper to look again."""
        self._now = moment
        self._moved.set()
        self._moved = asyncio.Event()

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        self.set(self._now + delta)

    async def sleep_until(self, deadline: datetime, wake: asyncio.Event) -> None:
        """Wait until the clock reaches ``deadline`` or ``wake`` is set."""
        while self._now < deadline and not wake.is_set():
            moved = asyncio.create_task(self._moved.wait())
            woken = asyncio.create_task(wake.wait())
            try:
                await asyncio.wait([moved, woken], return_when=asyncio.FIRST_COMPLETED)
            finally:
                moved.cancel()
                woken.cancel()
