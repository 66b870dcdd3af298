"""Partition leases on a real PostgreSQL: fair shares, takeover after expiry, fencing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from tests.integration.runtime.demo_schema import SCHEMA, effects
from tests.integration.runtime.harness import MIGRATIONS
from triage.runtime.db import Database
from triage.runtime.fence import BatchFence, Fenced, fenced
from triage.runtime.leases import PartitionLeases
from triage.runtime.migrations import upgrade


@pytest.fixture
async def db(fresh_db: str) -> AsyncIterator[Database]:
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    database = Database(fresh_db, schema=SCHEMA, pool_size=4)
    try:
        yield database
    finally:
        await database.dispose()


def _member(db: Database, name: str, ttl: float = 30.0) -> PartitionLeases:
    return PartitionLeases(db, consumer="group", member=name, partitions=16, ttl_seconds=ttl)


async def _join(leases: PartitionLeases) -> set[int]:
    held, share = await leases.heartbeat()
    got = await leases.acquire(share - len(held))
    return set(held) | set(got)


async def test_two_members_split_the_partitions_and_never_share_one(db: Database) -> None:
    a, b = _member(db, "a"), _member(db, "b")
    await a.seed()
    assert await _join(a) == set(range(16))  # alone, it takes everything
    held_b, share = await b.heartbeat()
    assert share == 8 and not held_b
    # a sees two members: it gives back its surplus, then b takes it.
    held_a, share_a = await a.heartbeat()
    assert share_a == 8
    await a.release(dict.fromkeys(sorted(held_a)[8:], 0))
    got_b = await b.acquire(8)
    assert len(got_b) == 8
    assert set(got_b).isdisjoint(sorted(held_a)[:8])


async def test_a_dead_members_partitions_are_taken_after_its_lease_expires(db: Database) -> None:
    dead, alive = _member(db, "dead", ttl=0.3), _member(db, "alive")
    await dead.seed()
    before = await _join(dead)
    assert len(before) == 16
    assert await alive.acquire(16) == {}  # still leased
    await asyncio.sleep(0.4)  # the TTL itself is what this test is about
    taken = await alive.acquire(16)
    assert set(taken) == before
    # Every takeover bumped the epoch: the fencing token the dead member held is stale.
    assert all(lease.epoch == 2 for lease in taken.values())


async def test_a_batch_whose_partition_moved_cannot_commit(db: Database) -> None:
    old, new = _member(db, "old", ttl=0.2), _member(db, "new")
    await old.seed()
    await _join(old)
    held, _ = await old.heartbeat()
    await asyncio.sleep(0.3)
    await new.acquire(16)  # the old owner's lease ran out and was taken over
    tenant = str(uuid.uuid4())
    fence = BatchFence(old.fence_lock_sql, old.fence_check_sql, old.fence_params([3], held), 1)
    with pytest.raises(Fenced), fenced(fence):
        async with db.transaction(tenant) as session:
            await session.execute(
                effects.insert().values(event_id=str(uuid.uuid4()), tenant_id=tenant)
            )
    async with db.system_transaction() as session:
        count = (await session.execute(text(f"SELECT count(*) FROM {SCHEMA}.effects"))).scalar()
        position = (
            await session.execute(
                text(f"SELECT position FROM {SCHEMA}.consumer_leases WHERE partition = 3")
            )
        ).scalar()
    assert count == 0  # the stale owner's effects rolled back
    assert position == 0  # and its position did not move


async def test_a_held_batch_commits_and_the_heartbeat_records_its_positions(
    db: Database,
) -> None:
    owner = _member(db, "owner")
    await owner.seed()
    await _join(owner)
    held, _ = await owner.heartbeat()
    tenant = str(uuid.uuid4())
    fence = BatchFence(
        owner.fence_lock_sql, owner.fence_check_sql, owner.fence_params([3, 5], held), 2
    )
    with fenced(fence):
        async with db.transaction(tenant) as session:
            await session.execute(
                effects.insert().values(event_id=str(uuid.uuid4()), tenant_id=tenant)
            )
    held, _ = await owner.heartbeat({3: 42, 5: 7})
    held, _ = await owner.heartbeat()
    assert held[3].position == 42 and held[5].position == 7


async def test_a_takeover_waits_for_the_batch_in_flight(db: Database) -> None:
    """The old owner's batch holds its partitions' locks until it ends: a replica taking
    the expired leases over skips those partitions meanwhile, and takes them after."""
    old, new = _member(db, "old", ttl=0.2), _member(db, "new")
    await old.seed()
    await _join(old)
    held, _ = await old.heartbeat()
    await asyncio.sleep(0.3)  # the old owner's leases ran out
    tenant = str(uuid.uuid4())
    fence = BatchFence(old.fence_lock_sql, old.fence_check_sql, old.fence_params([3], held), 1)
    with fenced(fence):
        async with db.transaction(tenant) as session:  # passes the fence: not taken yet
            taken = await new.acquire(16)
            assert 3 not in taken and len(taken) == 15
            await session.execute(
                effects.insert().values(event_id=str(uuid.uuid4()), tenant_id=tenant)
            )
    assert set(await new.acquire(16)) == {3}  # the batch is over: now it moves
