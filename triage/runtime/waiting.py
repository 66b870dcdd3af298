"""Waiting with a time limit without losing a cancellation.

On Python 3.11, ``asyncio.wait_for(event.wait(), t)`` swallows the caller's cancellation
when the event is set in the same loop iteration as the cancel arrives: a background loop
woken at that moment keeps running, and whoever awaits it at shutdown waits forever.
``asyncio.timeout`` propagates it.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; whether it is set."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
