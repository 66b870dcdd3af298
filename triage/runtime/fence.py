"""The fence a partitioned consumer puts around its batch handler's transactions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


class Fenced(Exception):
    """A consumer batch's partition is no longer held under the epoch it was read with:
    its transaction rolls back (another replica owns those events now)."""


@dataclass(frozen=True, slots=True)
class BatchFence:
    """What proves a batch's partitions are still held: ``lock``, an expression that takes
    their locks (it rides in the statement that binds the transaction's tenants), then
    ``check``, a statement whose one value must equal ``expected``. The check must run in a
    later statement than the lock (its snapshot then sees any takeover the lock waited
    for): on its own, or inside a :class:`FenceChecking` statement."""

    lock: str
    check: str
    params: Mapping[str, Any]
    expected: int

    def verify(self, held: int) -> None:
        """Raise :class:`Fenced` unless the check found every partition still ``held``."""
        if held != self.expected:
            raise Fenced(f"{self.expected - held} of the batch's partitions moved")


class FenceChecking(str):
    """A transaction's first statement (sent with BEGIN) that runs the batch's fence
    check itself, so none is sent apart: its caller compares the held count with
    ``expected`` and raises :class:`Fenced` (the inbox claim does, in one statement)."""

    __slots__ = ()


_FENCE: ContextVar[BatchFence | None] = ContextVar("triage_batch_fence", default=None)


@contextmanager
def fenced(fence: BatchFence) -> Iterator[None]:
    """Every tenant transaction opened inside this block (a consumer's batch handler, in
    this task and the tasks it starts) runs ``fence`` with its BEGIN and rolls back with
    :class:`Fenced` if the batch's partitions moved to another replica."""
    token = _FENCE.set(fence)
    try:
        yield
    finally:
        _FENCE.reset(token)


def current_fence() -> BatchFence | None:
    """The fence of the batch being handled in this context, if any."""
    return _FENCE.get()
