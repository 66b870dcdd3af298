"""Bounded, per-channel concurrency for sends: each send is its own task.

A worker that waited for a whole claimed batch let one hanging endpoint hold every other
channel's deliveries until its timeout. Here each claimed delivery is sent by its own task
and records its outcome when it finishes, while the worker keeps claiming for channels
that still have room.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class SendPool:
    """Tracks in-flight sends, globally and per channel, and runs each as a task."""

    def __init__(
        self, *, max_in_flight: int, per_channel: int, on_done: Callable[[], None]
    ) -> None:
        if max_in_flight < 1 or per_channel < 1:
            raise ValueError("send limits must be >= 1")
        self.max_in_flight = max_in_flight
        self.per_channel = per_channel
        self._on_done = on_done
        self._by_channel: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    def free(self) -> int:
        """How many more sends may start now."""
        return max(0, self.max_in_flight - len(self._tasks))

    def in_flight(self, channel_id: str | None = None) -> int:
        """Sends running now (of one channel, or in all)."""
        return len(self._tasks) if channel_id is None else self._by_channel[channel_id]

    def saturated(self) -> set[str]:
        """Channels that may not start another send now."""
        return {c for c, n in self._by_channel.items() if n >= self.per_channel}

    def room(self, channel_id: str, planned: int = 0) -> bool:
        """Whether ``channel_id`` may start one more send beyond ``planned`` already planned."""
        return self._by_channel[channel_id] + planned < self.per_channel

    def spawn(self, channel_id: str, send: Coroutine[Any, Any, None]) -> None:
        """Run ``send`` as its own task, counted against ``channel_id`` until it ends."""
        self._by_channel[channel_id] += 1
        task = asyncio.create_task(send, name=f"send:{channel_id}")
        self._tasks.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._by_channel[channel_id] -= 1
            if self._by_channel[channel_id] <= 0:
                del self._by_channel[channel_id]
            if not done.cancelled() and (error := done.exception()) is not None:
                log.error("send task failed", exc_info=error)
            self._on_done()

        task.add_done_callback(finished)

    async def drain(self) -> None:
        """Wait until every send started so far has recorded its outcome."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel running sends (their leases expire, and another pass retries them)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
