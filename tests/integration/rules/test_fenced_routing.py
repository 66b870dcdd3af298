"""The fence of a partitioned rules batch riding in its settings read (sent with BEGIN): a
stale owner's batch is fenced and commits nothing, a current owner's routes once, and no
fence check travels as a statement of its own."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text

from services.rules.events import ALERT_DURABLE, alert_batch_handler
from services.rules.models import SCHEMA, decisions, inbox, outbox, series
from tests.integration.rules.conftest import T0
from tests.integration.rules.harness import Rules, alert
from tests.integration.rules.test_batch import received
from triage.runtime.db import Database
from triage.runtime.fence import BatchFence, Fenced, fenced
from triage.runtime.leases import Lease, PartitionLeases
from triage.runtime.outbox import Inbox

pytestmark = pytest.mark.integration

GROUP = "fenced-routing"


def _member(db: Database, name: str) -> PartitionLeases:
    return PartitionLeases(db, consumer=GROUP, member=name, partitions=16)


async def _hold_all(leases: PartitionLeases) -> dict[int, Lease]:
    await leases.seed()
    held, share = await leases.heartbeat()
    return held | await leases.acquire(share - len(held))


async def _take_over(db: Database, old: PartitionLeases, new: PartitionLeases) -> None:
    """``new`` takes ``old``'s partitions as after ``old`` died: its membership and leases
    are made to have run out (no waiting), then ``new`` acquires them the ordinary way."""
    async with db.system_transaction() as session:
        params = {"consumer": GROUP, "member": old.member}
        await session.execute(
            text(
                f"DELETE FROM {SCHEMA}.consumer_members "
                "WHERE consumer = :consumer AND member = :member"
            ),
            params,
        )
        await session.execute(
            text(
                f"UPDATE {SCHEMA}.consumer_leases SET expires_at = '-infinity' "
                "WHERE consumer = :consumer AND owner = :member"
            ),
            params,
        )
    await new.seed()
    assert len(await new.acquire(16)) == 16


def _fence(leases: PartitionLeases, held: dict[int, Lease], parts: list[int]) -> BatchFence:
    return BatchFence(
        leases.fence_lock_sql, leases.fence_check_sql, leases.fence_params(parts, held), len(parts)
    )


async def _rows(rules: Rules, tenant: str) -> dict[str, int]:
    """How many rows of ``tenant`` each table the alert path writes holds."""
    async with rules.db.system_transaction() as session:
        return {
            table.name: int(
                (
                    await session.execute(
                        select(func.count()).where(table.c.tenant_id == uuid.UUID(tenant))
                    )
                ).scalar_one()
            )
            for table in (inbox, decisions, series, outbox)
        }


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every statement sent through a psycopg cursor while the test runs."""
    texts: list[str] = []
    execute = psycopg.AsyncCursor.execute

    async def spy(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        texts.append(str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", spy)
    return texts


async def test_a_stale_owners_batch_is_fenced_and_commits_nothing(
    rules: Rules, tenant: str
) -> None:
    old, new = _member(rules.db, "old"), _member(rules.db, "new")
    held = await _hold_all(old)
    await _take_over(rules.db, old, new)
    handle = alert_batch_handler(rules.service, Inbox(inbox, ALERT_DURABLE))
    batch = [received(alert(tenant, series_key=f"s{i}", at=T0)) for i in range(4)]

    with pytest.raises(Fenced), fenced(_fence(old, held, [3, 5])):
        await handle(batch)

    assert await _rows(rules, tenant) == {"inbox": 0, "decisions": 0, "series": 0, "outbox": 0}


async def test_a_current_owners_batch_routes_once_with_no_fence_check_apart(
    rules: Rules, tenant: str, sent: list[str]
) -> None:
    owner = _member(rules.db, "owner")
    held = await _hold_all(owner)
    handle = alert_batch_handler(rules.service, Inbox(inbox, ALERT_DURABLE))
    batch = [received(alert(tenant, series_key=f"s{i}", at=T0)) for i in range(4)]

    sent.clear()
    with fenced(_fence(owner, held, [3, 5])):
        await handle(batch)
        await handle(batch)  # a redelivery routes nothing

    assert owner.fence_check_sql not in sent
    assert sum(owner.fence_check_sql in s for s in sent) == 2  # folded, once per batch
    assert await _rows(rules, tenant) == {"inbox": 4, "decisions": 4, "series": 4, "outbox": 4}
