"""An idle reader's pull waits longer each time, and its own events cut the wait short."""

from __future__ import annotations

import asyncio

from triage.runtime.long_poll import PollWait, unless_set


def test_empty_pulls_lengthen_the_wait_up_to_its_ceiling_and_events_reset_it() -> None:
    wait = PollWait(1.0, most=5.0)
    seen = []
    for _ in range(5):
        seen.append(wait.seconds)
        wait.empty()
    assert seen == [1.0, 2.0, 4.0, 5.0, 5.0]
    wait.busy()
    assert wait.seconds == 1.0


def test_a_first_wait_above_the_ceiling_is_kept() -> None:
    wait = PollWait(30.0, most=5.0)
    wait.empty()
    assert wait.seconds == 30.0


async def test_work_that_ends_first_gives_its_result() -> None:
    async def work() -> str:
        return "done"

    assert await unless_set(work(), asyncio.Event()) == (False, "done")


async def test_the_event_cuts_a_long_wait_and_cancels_it() -> None:
    started, event = asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []

    async def long_pull() -> str:
        started.set()
        try:
            await asyncio.Event().wait()  # never set: only a cancel ends it
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "never"

    async def set_when_started() -> None:
        await started.wait()
        event.set()

    setter = asyncio.create_task(set_when_started())
    assert await unless_set(long_pull(), event) == (True, None)
    await setter
    assert cancelled == [True]
