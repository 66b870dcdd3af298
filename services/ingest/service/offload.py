"""CPU-heavy work of one request (parsing a large body, building many events) off the
event loop, in a small pool of its own.

Not the loop's default executor: that one also resolves host names for new connections,
and a burst of large bodies must not hold its threads. Two threads: the work holds the
GIL, so more would only take more turns from the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingest-cpu")


async def off_loop(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` in the pool, with the caller's context (its trace span)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_POOL, call)
