"""The shared lease heartbeat on a real PostgreSQL and NATS: one statement renews every
group of a process (writing no lease row whose position stayed), a group that leaves gives
back only its own partitions, a dead member's partitions still move after its TTL, and a
long pull never delays a change."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text

from tests.integration.runtime.demo_schema import SCHEMA
from tests.integration.runtime.harness import MIGRATIONS, Demo, poll
from triage.runtime.consumer import BatchConsumer
from triage.runtime.db import Database
from triage.runtime.lease_keeper import LeaseKeeper, keeper_for
from triage.runtime.leases import PartitionLeases, Renewed
from triage.runtime.migrations import upgrade


@pytest.fixture
async def db(fresh_db: str) -> AsyncIterator[Database]:
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    database = Database(fresh_db, schema=SCHEMA, pool_size=4)
    try:
        yield database
    finally:
        await database.dispose()


class Group:
    """A kept group that records what each heartbeat found."""

    def __init__(self, leases: PartitionLeases, positions: dict[int, int]) -> None:
        self.leases = leases
        self.positions = positions
        self.found: list[Renewed] = []

    def renewal_positions(self) -> dict[int, int]:
        return self.positions

    async def on_renewed(self, renewed: Renewed) -> None:
        self.found.append(renewed)


async def _rows(db: Database) -> list[Any]:
    async with db.system_transaction() as session:
        return list(
            (
                await session.execute(
                    text(
                        f"SELECT consumer, partition, owner, position, xmin::text AS version, "
                        "extract(epoch FROM expires_at) AS expires_at "
                        f"FROM {SCHEMA}.consumer_leases ORDER BY consumer, partition"
                    )
                )
            ).all()
        )


async def _memberships(db: Database) -> dict[str, float]:
    """Each group's latest membership expiry (epoch seconds)."""
    async with db.system_transaction() as session:
        rows = await session.execute(
            text(
                "SELECT consumer, extract(epoch FROM max(expires_at)) AS expires_at "
                f"FROM {SCHEMA}.consumer_members GROUP BY consumer"
            )
        )
        return {str(r.consumer): float(r.expires_at) for r in rows}


async def test_one_statement_renews_every_group_with_its_own_positions(db: Database) -> None:
    groups = []
    for name in ("alpha", "beta", "gamma"):
        leases = PartitionLeases(db, consumer=name, member="m", partitions=16, ttl_seconds=30)
        await leases.seed()
        await leases.acquire(16)
        groups.append(Group(leases, {}))
    groups[1].positions = {3: 42}
    before = {(r.consumer, r.partition): r.version for r in await _rows(db)}
    keeper = LeaseKeeper(db, tick_seconds=3600)
    for group in groups:
        keeper.join(group)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await keeper.beat()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        for group in groups:
            await keeper.leave(group)

    assert len(statements) == 1
    for group in groups:
        assert [set(r.held) for r in group.found] == [set(range(16))]
        assert group.found[0].share == 16
    rows = await _rows(db)
    # Only the lease whose position advanced got a new row version: the membership
    # renewal keeps the others.
    rewritten = {
        (r.consumer, r.partition) for r in rows if r.version != before[(r.consumer, r.partition)]
    }
    assert rewritten == {("beta", 3)}
    positions = {(r.consumer, r.partition): r.position for r in rows}
    assert positions[("beta", 3)] == 42
    assert positions[("alpha", 3)] == 0 and positions[("gamma", 3)] == 0
    async with db.system_transaction() as session:
        members = (
            await session.execute(
                text(f"SELECT count(*) FROM {SCHEMA}.consumer_members WHERE expires_at > now()")
            )
        ).scalar()
    assert members == 3


async def test_a_group_that_leaves_gives_back_only_its_own_partitions(
    fresh_db: str, nats_url: str
) -> None:
    demo = await Demo.start(fresh_db, nats_url)
    try:
        alpha, beta = demo.consumer("alpha", lease_ttl_seconds=120), demo.consumer("beta")
        alpha_task = asyncio.create_task(alpha.run())
        demo.tasks.append(asyncio.create_task(beta.run()))
        await poll(lambda: _holds(alpha, 16))
        await poll(lambda: _holds(beta, 16))
        keeper = keeper_for(demo.db, 0.2)
        assert keeper.groups == 2  # one keeper for both groups of this "process"

        await alpha.stop()
        await asyncio.wait_for(alpha_task, timeout=10)
        await alpha.leave()

        rows = await _rows(demo.db)
        assert all(r.owner is None for r in rows if r.consumer == "alpha")
        assert all(r.owner == beta.member for r in rows if r.consumer == "beta")
        assert keeper.groups == 1
        # The keeper goes on renewing the group still there.
        renewed = (await _memberships(demo.db))["beta"]

        async def beta_renewed() -> bool:
            return (await _memberships(demo.db))["beta"] > renewed

        await poll(beta_renewed)
        await beta.stop()
        await poll(lambda: _keeper_gone(keeper))
    finally:
        await demo.stop()


async def test_a_dead_members_partitions_move_within_the_bound(
    fresh_db: str, nats_url: str
) -> None:
    """Two members in two processes (each its own database pool and keeper): one dies
    without a word; the other takes its partitions after the TTL and applies every event
    once."""
    demo = await Demo.start(fresh_db, nats_url)
    other_db = Database(fresh_db, schema=SCHEMA, pool_size=2)
    try:
        dying = demo.consumer("failover", member="dying")
        living = demo.consumer("failover", member="living", db=other_db)
        dying_task = asyncio.create_task(dying.run())
        await poll(lambda: _holds(dying, 16))
        demo.tasks.append(asyncio.create_task(living.run()))
        await poll(lambda: _holds(dying, 8), timeout=15)
        await poll(lambda: _holds(living, 8), timeout=15)
        tenant = str(uuid.uuid4())
        before = [await demo.write_note(tenant, f"before {i}") for i in range(20)]
        await poll(lambda: demo.caught_up("failover"))

        dying_task.cancel()  # no release, no leave: its leases simply stop being renewed
        await asyncio.gather(dying_task, return_exceptions=True)
        # The bound: the lease TTL (2 s here) and a tick, with room for a busy machine.
        await poll(lambda: _holds(living, 16), timeout=8)

        after = [await demo.write_note(tenant, f"after {i}") for i in range(20)]
        await poll(lambda: demo.caught_up("failover"))
        for event_id in before + after:
            assert await demo.effect_count(event_id) == 1
    finally:
        await demo.stop()
        await other_db.dispose()


async def test_a_long_pull_never_delays_a_handover_or_a_stop(fresh_db: str, nats_url: str) -> None:
    """Readers that pull for a minute still rebalance when a member joins, stop at once,
    and the other takes over right after the release."""
    demo = await Demo.start(fresh_db, nats_url)
    try:
        first = demo.consumer("longpoll", member="first", fetch_timeout_seconds=60)
        second = demo.consumer("longpoll", member="second", fetch_timeout_seconds=60)
        first_task = asyncio.create_task(first.run())
        await poll(lambda: _holds(first, 16))
        demo.tasks.append(asyncio.create_task(second.run()))
        await poll(lambda: _holds(first, 8), timeout=15)
        await poll(lambda: _holds(second, 8), timeout=15)
        tenant = str(uuid.uuid4())
        notes = [await demo.write_note(tenant, f"n{i}") for i in range(20)]
        await poll(lambda: demo.caught_up("longpoll"), timeout=15)

        await first.stop()
        await asyncio.wait_for(first_task, timeout=15)  # not the minute of its pull
        await first.leave()
        await poll(lambda: _holds(second, 16), timeout=15)
        notes += [await demo.write_note(tenant, f"m{i}") for i in range(20)]
        await poll(lambda: demo.caught_up("longpoll"), timeout=15)
        for event_id in notes:
            assert await demo.effect_count(event_id) == 1
    finally:
        await demo.stop()


async def _holds(consumer: BatchConsumer, count: int) -> bool:
    return len(consumer.held) == count


async def _keeper_gone(keeper: LeaseKeeper) -> bool:
    return keeper.groups == 0 and not any(
        t.get_name() == "lease-keeper" and not t.done() for t in asyncio.all_tasks()
    )
