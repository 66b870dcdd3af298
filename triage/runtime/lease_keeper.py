"""One lease heartbeat a tick per process and database, for all its consumer groups.

Every consumer group of a process renews its membership and its held leases each tick.
Done per group, that was a transaction per group per tick, most of an idle mesh's work.
The keeper of a database (schema) renews every group that joined it in one statement
(:func:`triage.runtime.leases.renew`) and hands each group its own result: what it
holds and its fair share; each group then rebalances (acquires or releases) by itself.
The keeper runs while at least one group has joined. A failed heartbeat is a failed
renewal for every group alike: each keeps what it holds, the leases run out after their
TTL unless a later tick renews them, and the fence stops a batch on a lost partition.
(An idle mesh's numbers before and after are in docs/DECISIONS.md.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from triage.runtime.db import Database
from triage.runtime.leases import PartitionLeases, Renewed, renew

log = logging.getLogger(__name__)


class KeptGroup(Protocol):
    """A consumer group's member as the keeper sees it."""

    @property
    def leases(self) -> PartitionLeases:
        """The member's leases (group, member name, partitions, TTL)."""
        ...

    def renewal_positions(self) -> Mapping[int, int] | None:
        """How far each held partition was applied; None to skip this tick (stopping)."""
        ...

    async def on_renewed(self, renewed: Renewed) -> None:
        """Rebalance from what the heartbeat found."""
        ...


class LeaseKeeper:
    """Renews the leases of every group that joined it, in one statement a tick."""

    def __init__(self, db: Database, tick_seconds: float) -> None:
        self._db = db
        self._tick = tick_seconds
        self._groups: dict[tuple[str, str], KeptGroup] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def groups(self) -> int:
        """How many groups are kept."""
        return len(self._groups)

    def join(self, group: KeptGroup) -> None:
        """Renew ``group`` from the next tick on (starts the keeper with its first group)."""
        key = (group.leases.consumer, group.leases.member)
        if key in self._groups:
            raise ValueError(f"member {key[1]} already kept for group {key[0]}")
        self._groups[key] = group
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="lease-keeper")

    async def leave(self, group: KeptGroup) -> None:
        """Stop renewing ``group`` (the keeper stops with its last group)."""
        self._groups.pop((group.leases.consumer, group.leases.member), None)
        if self._groups:
            return
        _KEEPERS.pop((id(self._db), self._tick), None)
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            await self.beat()

    async def beat(self) -> None:
        """One heartbeat for every kept group, then each group's own rebalance."""
        due: list[tuple[KeptGroup, Mapping[int, int]]] = []
        for group in list(self._groups.values()):
            positions = group.renewal_positions()
            if positions is not None:
                due.append((group, positions))
        if not due:
            return
        try:
            results = await renew(self._db, [(g.leases, p) for g, p in due])
        except Exception:
            log.warning(
                "lease heartbeat failed",
                exc_info=True,
                extra={"consumers": sorted(g.leases.consumer for g, _ in due)},
            )
            return
        await asyncio.gather(*(_settle(g, r) for (g, _), r in zip(due, results, strict=True)))


async def _settle(group: KeptGroup, renewed: Renewed) -> None:
    try:
        await group.on_renewed(renewed)
    except Exception:
        log.warning(
            "lease rebalance failed", exc_info=True, extra={"consumer": group.leases.consumer}
        )


_KEEPERS: dict[tuple[int, float], LeaseKeeper] = {}


def keeper_for(db: Database, tick_seconds: float) -> LeaseKeeper:
    """The keeper shared by the groups of this process that use ``db`` at this tick."""
    key = (id(db), tick_seconds)
    keeper = _KEEPERS.get(key)
    if keeper is None:
        keeper = _KEEPERS[key] = LeaseKeeper(db, tick_seconds)
    return keeper
