"""Partition leases in PostgreSQL: one owner per (consumer group, partition), fenced.

Each consumer group (a durable name) has one lease row per stream partition: its owner,
an epoch that grows on every change of owner (the fencing token), an expiry renewed by
the owner's heartbeat, and the stream position applied so far. Replicas also heartbeat a
member row, so each knows how many share the group and takes ``ceil(partitions / live)``.

A batch's transaction runs :attr:`PartitionLeases.fence_sql` first: it advances the
positions of the batch's partitions only where this member still holds them under the
epoch it read. The statement locks those lease rows until commit, so a takeover (which
skips locked rows) waits for the batch; a batch whose partition was taken over updates
fewer rows and rolls back (:class:`Fenced`). The new owner starts reading after the
position the old owner committed, so no event is applied twice or out of order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

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
        self._heartbeat_sql = text(
            f"INSERT INTO {members} (consumer, member, expires_at) "
            "VALUES (:consumer, :member, now() + make_interval(secs => :ttl)) "
            "ON CONFLICT (consumer, member) DO UPDATE SET expires_at = excluded.expires_at"
        )
        self._live_sql = text(
            f"SELECT count(*) FROM {members} WHERE consumer = :consumer AND expires_at > now()"
        )
        self._renew_sql = text(
            f"UPDATE {leases} SET expires_at = now() + make_interval(secs => :ttl) "
            "WHERE consumer = :consumer AND owner = :member AND partition < :n "
            "RETURNING partition, epoch, position"
        )
        self._acquire_sql = text(
            f"UPDATE {leases} l SET owner = :member, epoch = l.epoch + 1, "
            "expires_at = now() + make_interval(secs => :ttl) "
            f"FROM (SELECT partition FROM {leases} WHERE consumer = :consumer "
            "AND partition < :n AND (owner IS NULL OR expires_at < now()) "
            "ORDER BY partition LIMIT :wanted FOR UPDATE SKIP LOCKED) free "
            "WHERE l.consumer = :consumer AND l.partition = free.partition "
            "RETURNING l.partition, l.epoch, l.position"
        )
        self._release_sql = text(
            f"UPDATE {leases} SET owner = NULL, expires_at = '-infinity' "
            "WHERE consumer = :consumer AND owner = :member "
            "AND partition = ANY(CAST(:parts AS integer[]))"
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
        # Raw (psycopg) text: it travels in the batch's BEGIN round trip.
        self.fence_sql = (
            f"UPDATE {leases} l SET position = GREATEST(l.position, v.pos) "
            "FROM unnest(%(fence_parts)s::integer[], %(fence_epochs)s::bigint[], "
            "%(fence_positions)s::bigint[]) AS v(part, ep, pos) "
            "WHERE l.consumer = %(fence_consumer)s AND l.partition = v.part "
            "AND l.owner = %(fence_member)s AND l.epoch = v.ep RETURNING l.partition"
        )

    def _params(self, **more: Any) -> dict[str, Any]:
        return {
            "consumer": self.consumer,
            "member": self.member,
            "n": self.partitions,
            "ttl": self._ttl,
            **more,
        }

    async def seed(self, floor: int = 0) -> None:
        """Make sure the group's lease rows exist. New partitions start where the group
        already is (a raised partition count does not replay the stream), or at ``floor``
        for a new group."""
        async with self._db.system_transaction() as session:
            await session.execute(self._seed_sql, self._params(floor=floor))

    async def heartbeat(self) -> tuple[dict[int, Lease], int]:
        """Renew this member and its leases; returns what it holds and its fair share."""
        async with self._db.system_transaction() as session:
            await session.execute(self._heartbeat_sql, self._params())
            live = int((await session.execute(self._live_sql, self._params())).scalar_one())
            rows = (await session.execute(self._renew_sql, self._params())).all()
        held = {r.partition: Lease(r.partition, r.epoch, r.position) for r in rows}
        return held, math.ceil(self.partitions / max(1, live))

    async def acquire(self, wanted: int) -> dict[int, Lease]:
        """Take up to ``wanted`` free or expired partitions (never one a batch holds)."""
        if wanted <= 0:
            return {}
        async with self._db.system_transaction() as session:
            rows = (await session.execute(self._acquire_sql, self._params(wanted=wanted))).all()
        return {r.partition: Lease(r.partition, r.epoch, r.position) for r in rows}

    async def release(self, partitions: list[int]) -> None:
        """Give ``partitions`` back at once (after their last batch committed)."""
        if partitions:
            async with self._db.system_transaction() as session:
                await session.execute(self._release_sql, self._params(parts=partitions))

    async def leave(self, partitions: list[int]) -> None:
        """Release ``partitions`` and end the membership (graceful shutdown)."""
        async with self._db.system_transaction() as session:
            if partitions:
                await session.execute(self._release_sql, self._params(parts=partitions))
            await session.execute(self._leave_sql, self._params())

    async def live_members(self) -> set[str]:
        """The group's members whose heartbeat has not run out."""
        async with self._db.system_transaction() as session:
            rows = (await session.execute(self._live_members_sql, self._params())).scalars()
            return {str(m) for m in rows}

    async def reset_positions(self, partitions: list[int], position: int) -> None:
        """Move held partitions' positions (after the stream was recreated from scratch)."""
        async with self._db.system_transaction() as session:
            await session.execute(
                self._reset_sql, self._params(parts=partitions, position=position)
            )

    def fence_params(
        self, last_seen: Mapping[int, int], held: Mapping[int, Lease]
    ) -> dict[str, Any]:
        """Parameters of :attr:`fence_sql` for a batch whose last sequence per partition
        is ``last_seen``."""
        parts = sorted(last_seen)
        return {
            "fence_consumer": self.consumer,
            "fence_member": self.member,
            "fence_parts": parts,
            "fence_epochs": [held[p].epoch for p in parts],
            "fence_positions": [last_seen[p] for p in parts],
        }
