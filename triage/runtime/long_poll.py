"""How long an idle reader's pull waits, and how a change or a stop cuts the wait short.

A pull that finds nothing costs a request and its expiry on the bus; an idle mesh's
readers used to pull once a second each, only to notice stops and partition changes in
time. A wait that the reader's own events end lets the pull wait longer instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

#: The longest an idle reader's pull waits (seconds). It stays well below the reader's
#: JetStream inactive threshold, so an idle reader keeps its consumer on the server.
IDLE_FETCH_SECONDS = 5.0


class PollWait:
    """A pull's wait: ``first`` after events, doubling with each empty pull up to ``most``."""

    def __init__(self, first: float, most: float = IDLE_FETCH_SECONDS) -> None:
        self.first = first
        self.most = max(first, most)
        self.seconds = first

    def empty(self) -> None:
        """The last pull found nothing: wait longer next time."""
        self.seconds = min(self.most, self.seconds * 2)

    def busy(self) -> None:
        """The last pull found events: back to the first wait."""
        self.seconds = self.first


async def unless_set(work: Awaitable[T], event: asyncio.Event) -> tuple[bool, T | None]:
    """Run ``work`` until it ends or ``event`` is set, whichever comes first.

    Returns ``(cut, result)``: ``cut`` when the event came first and ``work`` was cancelled
    (and waited for: a message it had taken off the wire may be lost, so the caller reads
    again from its positions); ``result`` is what ``work`` returned, if it did.
    """
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(event.wait())
    cut = False
    try:
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            cut = True
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return cut, None
    return cut, task.result()
