"""A timed wait that never loses the caller's cancellation."""

from __future__ import annotations

import asyncio

import pytest

from triage.runtime.waiting import wait_event


async def test_returns_whether_the_event_was_set() -> None:
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await wait_event(event, 5) is True
    assert await wait_event(event, 0) is True


async def test_a_cancel_arriving_with_the_wake_up_still_cancels() -> None:
    event = asyncio.Event()

    async def loop_forever() -> None:
        while True:
            await wait_event(event, 10)
            event.clear()

    task = asyncio.create_task(loop_forever())
    await asyncio.sleep(0)  # the task is waiting now
    event.set()  # wakes it in the next iteration...
    task.cancel()  # ...in which the cancel arrives too
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
