"""The fence riding in the inbox claim (one statement for both): a stale owner's batch
claims and commits nothing, a current owner's claims once, and a takeover still waits
for a claiming batch in flight."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from tests.integration.runtime.demo_schema import SCHEMA, effects, inbox
from tests.integration.runtime.harness import MIGRATIONS
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.db import Database
from triage.runtime.events import ReceivedEvent, new_envelope
from triage.runtime.fence import BatchFence, Fenced, fenced
from triage.runtime.inbox import Inbox
from triage.runtime.leases import Lease, PartitionLeases
from triage.runtime.migrations import upgrade

pytestmark = pytest.mark.integration


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


async def _hold_all(leases: PartitionLeases) -> dict[int, Lease]:
    await leases.seed()
    held, share = await leases.heartbeat()
    return held | await leases.acquire(share - len(held))


def _events(tenant: str, count: int) -> list[ReceivedEvent]:
    return [
        ReceivedEvent(
            envelope=new_envelope(
                tenant_id=tenant, event_type="note.written", payload=Envelope(), producer="test"
            ),
            subject="s",
            headers={},
            num_delivered=1,
        )
        for _ in range(count)
    ]


def _fence(leases: PartitionLeases, held: dict[int, Lease], parts: list[int]) -> BatchFence:
    return BatchFence(
        leases.fence_lock_sql, leases.fence_check_sql, leases.fence_params(parts, held), len(parts)
    )


async def _count(db: Database, table: str) -> int:
    async with db.system_transaction() as session:
        found = await session.execute(text(f"SELECT count(*) FROM {SCHEMA}.{table}"))
        return int(found.scalar_one())


async def _claim_and_apply(db: Database, claims: Inbox, events: list[ReceivedEvent]) -> int:
    """Claim ``events`` in one transaction and write an effect per fresh one."""
    async with claims.claiming(db, events) as (session, fresh):
        for event in fresh:
            await session.execute(
                effects.insert().values(event_id=event.event_id, tenant_id=event.tenant_id)
            )
        return len(fresh)


async def test_a_stale_owners_claim_is_fenced_and_commits_nothing(db: Database) -> None:
    old, new = _member(db, "old", ttl=0.2), _member(db, "new")
    held = await _hold_all(old)
    await asyncio.sleep(0.3)  # the old owner's membership and leases ran out
    assert 3 in await new.acquire(16)
    claims = Inbox(inbox, "notes")
    with pytest.raises(Fenced), fenced(_fence(old, held, [3, 5])):
        await _claim_and_apply(db, claims, _events(str(uuid.uuid4()), 4))
    assert await _count(db, "inbox") == 0
    assert await _count(db, "effects") == 0


async def test_a_current_owners_claim_commits_once(db: Database) -> None:
    owner = _member(db, "owner")
    held = await _hold_all(owner)
    claims = Inbox(inbox, "notes")
    events = _events(str(uuid.uuid4()), 4)
    with fenced(_fence(owner, held, [3, 5])):
        assert await _claim_and_apply(db, claims, events) == 4
        assert await _claim_and_apply(db, claims, events) == 0  # a replay claims nothing
    assert await _count(db, "inbox") == 4
    assert await _count(db, "effects") == 4


async def test_a_takeover_skips_a_partition_whose_claiming_batch_is_in_flight(
    db: Database,
) -> None:
    old, new = _member(db, "old", ttl=0.2), _member(db, "new")
    held = await _hold_all(old)
    await asyncio.sleep(0.3)  # the old owner's leases ran out, not yet taken
    claims = Inbox(inbox, "notes")
    with fenced(_fence(old, held, [3])):
        async with claims.claiming(db, _events(str(uuid.uuid4()), 2)) as (_, fresh):
            assert len(fresh) == 2  # the fence passed: nobody had taken partition 3
            taken = await new.acquire(16)
            assert 3 not in taken and len(taken) == 15
    assert set(await new.acquire(16)) == {3}  # the batch is over: now it moves
