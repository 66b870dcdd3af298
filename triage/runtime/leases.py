"""Partition leases in PostgreSQL: one owner per (consumer group, partition), fenced.

Each consumer group (a durable name) has one lease row per stream partition: its owner,
an epoch that grows on every change of owner (the fencing token), an expiry set when it
is taken, and the stream position applied so far. Replicas heartbeat a member row, so
each knows how many share the group and takes ``ceil(partitions / live)``; a lease lasts
while its expiry or its owner's membership does, so a heartbeat renews one row per group
and writes a lease row only for a partition whose position advanced (renewing every lease
row each tick was most of the consumers' PostgreSQL time).

A batch's transaction starts with the fence (in BEGIN's round trip): it takes each of the
batch's partitions' advisory lock, shared, until commit, then checks that this member
still holds them under the epochs it read. A takeover tries the same lock exclusively and
skips a partition whose batch is in flight, so the old owner's batch either commits before
the takeover or sees it and rolls back (:class:`Fenced`). The fence writes nothing; the
applied positions are recorded by the heartbeat (every tick) and on release, so a new
owner may read again up to a tick of events the old one applied: the inbox drops those,
and it applies the rest in stream order, each once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.db import Database
from triage.runtime.fence import Fenced

__all__ = ["Fenced", "Lease", "PartitionLeases", "Renewed", "leases_ddl", "renew"]

#: Seconds a lease and a membership last without a heartbeat: the bound on how long a
#: dead replica's partitions wait before another replica takes them over.
LEASE_TTL_SECONDS = 6.0


@dataclass(frozen=True, slots=True)
class Lease:
    """A partition this member holds: its fencing epoch and the position applied so far."""

    partition: int
    epoch: int
    position: int


@dataclass(frozen=True, slots=True)
class Renewed:
    """What one heartbeat found for one member of a group: what it holds, its fair share."""

    held: dict[int, Lease]
    share: int


def leases_ddl(schema: str) -> list[str]:
    """The tables behind :class:`PartitionLeases` in ``schema`` (for its migration)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.consumer_leases ("
        "consumer text NOT NULL, partition integer NOT NULL, owner text, "
        "epoch bigint NOT NULL DEFAULT 0, "
        "expires_at timestamptz NOT NULL DEFAULT '-infinity', "
        "position bigint NOT NULL DEFAULT 0, PRIMARY KEY (consumer, partition))",
        f"CREATE TABLE IF NOT EXISTS {schema}.consumer_members ("
        "consumer text NOT NULL, member text NOT NULL, expires_at timestamptz NOT NULL, "
        "PRIMARY KEY (consumer, member))",
    ]


_NO_FLUSH = text("SET LOCAL synchronous_commit = off")


class PartitionLeases:
    """One member's view of a consumer group's partition leases."""

    def __init__(
        self,
        db: Database,
        *,
        consumer: str,
        member: str,
        partitions: int,
        ttl_seconds: float = LEASE_TTL_SECONDS,
    ) -> None:
        self.consumer = consumer
        self.member = member
        self.partitions = partitions
        self.ttl_seconds = ttl_seconds
        self.db = db
        leases = f"{db.schema}.consumer_leases"
        members = f"{db.schema}.consumer_members"
        self._seed_sql = text(
            f"INSERT INTO {leases} (consumer, partition, position) "
            "SELECT :consumer, p, COALESCE((SELECT max(position) FROM "
            f"{leases} WHERE consumer = :consumer), :floor) "
            "FROM generate_series(0, :n - 1) p ON CONFLICT DO NOTHING"
        )
        self._acquire_sql = text(
            f"UPDATE {leases} l SET owner = :member, epoch = l.epoch + 1, "
            "expires_at = now() + make_interval(secs => :ttl) "
            f"FROM (SELECT partition FROM {leases} f WHERE consumer = :consumer "
            "AND partition < :n AND CASE WHEN owner IS NULL OR (expires_at < now() "
            f"AND NOT EXISTS (SELECT 1 FROM {members} m WHERE m.consumer = :consumer "
            "AND m.member = f.owner AND m.expires_at > now())) "
            # A batch of the old owner in flight holds the partition's lock (shared):
            # skip it; the next tick takes it once that batch has committed or failed.
            # (CASE: the lock is tried only on a free partition, never on a live one.)
            "THEN pg_try_advisory_xact_lock(hashtext(:lock_key), partition) ELSE false END "
            "ORDER BY partition LIMIT :wanted FOR UPDATE SKIP LOCKED) free "
            "WHERE l.consumer = :consumer AND l.partition = free.partition "
            "RETURNING l.partition, l.epoch, l.position"
        )
        self._release_sql = text(
            f"UPDATE {leases} l SET owner = NULL, expires_at = '-infinity', "
            "position = GREATEST(l.position, v.pos) "
            "FROM unnest(CAST(:parts AS integer[]), CAST(:positions AS bigint[])) AS v(part, pos) "
            "WHERE l.consumer = :consumer AND l.owner = :member AND l.partition = v.part"
        )
        self._live_members_sql = text(
            f"SELECT member FROM {members} WHERE consumer = :consumer AND expires_at > now()"
        )
        self._leave_sql = text(
            f"DELETE FROM {members} WHERE consumer = :consumer AND member = :member"
        )
        self._reset_sql = text(
            f"UPDATE {leases} SET position = :position WHERE consumer = :consumer "
            "AND owner = :member AND partition = ANY(CAST(:parts AS integer[]))"
        )
        # Raw (psycopg) texts: they travel in the batch's BEGIN round trip. The first, an
        # expression in the tenant binding's statement, takes each partition's lock, shared
        # (batches never wait on each other; a takeover, which only tries the lock
        # exclusively, skips a partition while a batch holds it); the second, in a later
        # statement (its snapshot taken after the locks), counts the partitions still held
        # under the epochs read. Neither writes: the fence costs no row versions.
        self.lock_key = f"{db.schema}.{consumer}"
        self.fence_lock_sql = (
            "(SELECT count(pg_advisory_xact_lock_shared(hashtext(%(fence_key)s), p)) "
            "FROM unnest(%(fence_parts)s::integer[]) AS p) AS fence_locks"
        )
        self.fence_check_sql = (
            f"SELECT count(*) FROM {leases} l JOIN unnest(%(fence_parts)s::integer[], "
            "%(fence_epochs)s::bigint[]) AS v(part, ep) ON l.partition = v.part "
            "AND l.epoch = v.ep WHERE l.consumer = %(fence_consumer)s "
            "AND l.owner = %(fence_member)s"
        )

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """A lease transaction that does not wait for its WAL flush: a heartbeat lost in a
        database crash only makes a lease look older, and a lost acquire is caught by the
        next batch's fence (its epoch is not there), so none needs to be durable."""
        async with self.db.system_transaction() as session:
            await session.execute(_NO_FLUSH)
            yield session

    def _params(self, **more: Any) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "member": self.member,
            "n": self.partitions,
            "ttl": self.ttl_seconds,
            "lock_key": self.lock_key,
            **more,
        }

    async def seed(self, floor: int = 0) -> None:
        """Make sure the group's lease rows exist. New partitions start where the group
        already is (a raised partition count does not replay the stream), or at ``floor``
        for a new group."""
        async with self._transaction() as session:
            await session.execute(self._seed_sql, self._params(floor=floor))

    async def heartbeat(
        self, positions: Mapping[int, int] | None = None
    ) -> tuple[dict[int, Lease], int]:
        """Renew this member and its leases, recording how far it has applied each held
        partition (``positions``); returns what it holds and its fair share."""
        (renewed,) = await renew(self.db, [(self, positions or {})])
        return renewed.held, renewed.share

    async def acquire(self, wanted: int) -> dict[int, Lease]:
        """Take up to ``wanted`` free or expired partitions (never one a batch holds)."""
        if wanted <= 0:
            return {}
        async with self._transaction() as session:
            rows = (await session.execute(self._acquire_sql, self._params(wanted=wanted))).all()
        return {r.partition: Lease(r.partition, r.epoch, r.position) for r in rows}

    def _positions(self, positions: Mapping[int, int]) -> dict[str, Any]:
        parts = sorted(positions)
        return self._params(parts=parts, positions=[positions[p] for p in parts])

    async def release(self, positions: Mapping[int, int]) -> None:
        """Give the partitions of ``positions`` back at once, with how far they were
        applied (after their last batch committed)."""
        if positions:
            async with self._transaction() as session:
                await session.execute(self._release_sql, self._positions(positions))

    async def leave(self, positions: Mapping[int, int]) -> None:
        """Release the partitions of ``positions`` and end the membership (shutdown)."""
        async with self._transaction() as session:
            if positions:
                await session.execute(self._release_sql, self._positions(positions))
            await session.execute(self._leave_sql, self._params())

    async def live_members(self) -> set[str]:
        """The group's members whose heartbeat has not run out."""
        async with self._transaction() as session:
            rows = (await session.execute(self._live_members_sql, self._params())).scalars()
            return {str(m) for m in rows}

    async def reset_positions(self, partitions: list[int], position: int) -> None:
        """Move held partitions' positions (after the stream was recreated from scratch)."""
        async with self._transaction() as session:
            await session.execute(
                self._reset_sql, self._params(parts=partitions, position=position)
            )

    def fence_params(self, partitions: Iterable[int], held: Mapping[int, Lease]) -> dict[str, Any]:
        """Parameters of the fence statements for a batch of ``partitions``."""
        parts = sorted(set(partitions))
        return {
            "fence_key": self.lock_key,
            "fence_consumer": self.consumer,
            "fence_member": self.member,
            "fence_parts": parts,
            "fence_epochs": [held[p].epoch for p in parts],
        }


@functools.cache
def _heartbeat_sql(schema: str) -> TextClause:
    leases = f"{schema}.consumer_leases"
    members = f"{schema}.consumer_members"
    # One statement a tick for every group of a process: the memberships renewed (which
    # keeps their leases), the positions that advanced written (only rows still this
    # member's: rechecked on a row a concurrent takeover changed), and per group the
    # leases it holds and how many members are live (itself included: its own insert is
    # not visible to the count). Nothing else is written: a quiet group's lease rows stay.
    return text(
        "WITH g AS (SELECT * FROM unnest(CAST(:consumers AS text[]), "
        "CAST(:members AS text[]), CAST(:ns AS integer[]), CAST(:ttls AS float8[])) "
        "WITH ORDINALITY AS g(consumer, member, n, ttl, i)), joined AS ("
        f"INSERT INTO {members} (consumer, member, expires_at) "
        "SELECT consumer, member, now() + make_interval(secs => ttl) FROM g "
        "ON CONFLICT (consumer, member) DO UPDATE SET expires_at = excluded.expires_at "
        f"RETURNING 1), moved AS (UPDATE {leases} l SET position = v.pos "
        "FROM g, unnest(CAST(:groups AS integer[]), CAST(:parts AS integer[]), "
        "CAST(:positions AS bigint[])) AS v(grp, part, pos) "
        "WHERE v.grp = g.i AND l.consumer = g.consumer AND l.partition = v.part "
        "AND l.owner = g.member AND l.position < v.pos RETURNING 1) "
        "SELECT set_config('synchronous_commit', 'off', true) AS quiet, g.i AS grp, "
        "c.live, h.partition, h.epoch, h.position FROM g CROSS JOIN LATERAL ("
        f"SELECT count(*) + 1 AS live FROM {members} m WHERE m.consumer = g.consumer "
        "AND m.expires_at > now() AND m.member <> g.member) c "
        f"LEFT JOIN {leases} h ON h.consumer = g.consumer AND h.owner = g.member "
        "AND h.partition < g.n"
    )


async def renew(
    db: Database, members: Sequence[tuple[PartitionLeases, Mapping[int, int]]]
) -> list[Renewed]:
    """One heartbeat, in one statement, for several members of groups in ``db``'s schema:
    each membership and its held leases renewed with the positions given; returns, in the
    order given, what each holds and its fair share."""
    if not members:
        return []
    if len({(m.consumer, m.member) for m, _ in members}) < len(members):
        raise ValueError("a member may be renewed only once per heartbeat")
    groups: list[int] = []
    parts: list[int] = []
    positions: list[int] = []
    for index, (_, applied) in enumerate(members, start=1):
        for part in sorted(applied):
            groups.append(index)
            parts.append(part)
            positions.append(applied[part])
    params = {
        "consumers": [m.consumer for m, _ in members],
        "members": [m.member for m, _ in members],
        "ns": [m.partitions for m, _ in members],
        "ttls": [m.ttl_seconds for m, _ in members],
        "groups": groups,
        "parts": parts,
        "positions": positions,
    }
    async with db.system_transaction() as session:
        rows = (await session.execute(_heartbeat_sql(db.schema), params)).all()
    live = dict.fromkeys(range(1, len(members) + 1), 1)
    held: dict[int, dict[int, Lease]] = {i: {} for i in live}
    for r in rows:
        live[int(r.grp)] = int(r.live)
        if r.partition is not None:
            held[int(r.grp)][r.partition] = Lease(r.partition, r.epoch, r.position)
    return [
        Renewed(held[i], math.ceil(m.partitions / max(1, live[i])))
        for i, (m, _) in enumerate(members, start=1)
    ]
