"""Partition leases in PostgreSQL: one owner per (consumer group, partition), fenced.

Each consumer group (a durable name) has one lease row per stream partition: its owner,
an epoch that grows on every change of owner (the fencing token), an expiry renewed by
the owner's heartbeat, and the stream position applied so far. Replicas also heartbeat a
member row, so each knows how many share the group and takes ``ceil(partitions / live)``.

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

import math
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from triage.runtime.db import Database
from triage.runtime.fence import Fenced

__all__ = ["Fenced", "Lease", "PartitionLeases", "leases_ddl"]

#: Seconds a lease and a membership last without a heartbeat: the bound on how long a
#: dead replica's partitions wait before another replica takes them over.
LEASE_TTL_SECONDS = 6.0


@dataclass(frozen=True, slots=True)
class Lease:
    """A partition this member holds: its fencing epoch and the position applied so far."""

    partition: int
    epoch: int
    position: int


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
        self._db = db
        self.consumer = consumer
        self.member = member
        self.partitions = partitions
        self._ttl = ttl_seconds
        leases = f"{db.schema}.consumer_leases"
        members = f"{db.schema}.consumer_members"
        self._seed_sql = text(
            f"INSERT INTO {leases} (consumer, partition, position) "
            "SELECT :consumer, p, COALESCE((SELECT max(position) FROM "
            f"{leases} WHERE consumer = :consumer), :floor) "
            "FROM generate_series(0, :n - 1) p ON CONFLICT DO NOTHING"
        )
        # One statement a tick: the membership renewed, the held leases renewed with how
        # far each was applied, and how many members are live (this one included).
        self._heartbeat_sql = text(
            "WITH joined AS ("
            f"INSERT INTO {members} (consumer, member, expires_at) "
            "VALUES (:consumer, :member, now() + make_interval(secs => :ttl)) "
            "ON CONFLICT (consumer, member) DO UPDATE SET expires_at = excluded.expires_at "
            "RETURNING 1), renewed AS ("
            f"UPDATE {leases} l SET expires_at = now() + make_interval(secs => :ttl), "
            "position = GREATEST(l.position, COALESCE(v.pos, 0)) "
            f"FROM {leases} h LEFT JOIN unnest(CAST(:parts AS integer[]), "
            "CAST(:positions AS bigint[])) AS v(part, pos) ON v.part = h.partition "
            "WHERE h.consumer = :consumer AND h.owner = :member AND h.partition < :n "
            "AND l.consumer = h.consumer AND l.partition = h.partition "
            "RETURNING l.partition, l.epoch, l.position) "
            "SELECT set_config('synchronous_commit', 'off', true) AS quiet, "
            f"(SELECT count(*) FROM {members} WHERE consumer = :consumer "
            "AND expires_at > now() AND member <> :member) + 1 AS live, "
            "r.partition, r.epoch, r.position FROM (SELECT 1) AS one "
            "LEFT JOIN renewed AS r ON true"
        )
        self._acquire_sql = text(
            f"UPDATE {leases} l SET owner = :member, epoch = l.epoch + 1, "
            "expires_at = now() + make_interval(secs => :ttl) "
            f"FROM (SELECT partition FROM {leases} WHERE consumer = :consumer "
            "AND partition < :n AND (owner IS NULL OR expires_at < now()) "
            # A batch of the old owner in flight holds the partition's lock (shared):
            # skip it; the next tick takes it once that batch has committed or failed.
            "AND pg_try_advisory_xact_lock(hashtext(:lock_key), partition) "
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
        # Raw (psycopg) texts: they travel in the batch's BEGIN round trip. The first takes
        # each partition's lock, shared (batches never wait on each other; a takeover, which
        # only tries the lock exclusively, skips a partition while a batch holds it); the
        # second, under a snapshot taken after the locks, counts the partitions still held
        # under the epochs read. Neither writes: the fence costs no row versions.
        self.lock_key = f"{db.schema}.{consumer}"
        self.fence_lock_sql = (
            "SELECT count(pg_advisory_xact_lock_shared(hashtext(%(fence_key)s), p)) "
            "FROM unnest(%(fence_parts)s::integer[]) AS p"
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
        async with self._db.system_transaction() as session:
            await session.execute(_NO_FLUSH)
            yield session

    def _params(self, **more: Any) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "member": self.member,
            "n": self.partitions,
            "ttl": self._ttl,
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
        async with self._db.system_transaction() as session:
            rows = (
                await session.execute(self._heartbeat_sql, self._positions(positions or {}))
            ).all()
        live = int(rows[0].live) if rows else 1
        held = {
            r.partition: Lease(r.partition, r.epoch, r.position)
            for r in rows
            if r.partition is not None
        }
        return held, math.ceil(self.partitions / max(1, live))

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
