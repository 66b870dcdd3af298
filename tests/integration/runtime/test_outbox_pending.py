"""The outbox's pending queue: insert-only rows, a narrow queue of ids the relay drains."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import psycopg
import pytest
from google.protobuf import wrappers_pb2
from psycopg.types.json import Jsonb
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.pool import NullPool

from tests.integration.runtime.demo_schema import (
    SCHEMA,
    effects,
    inbox,
    metadata,
    notes,
    outbox,
    outbox_pending,
)
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.bus import Bus, Outgoing
from triage.runtime.db import Database
from triage.runtime.events import new_envelope, subject_for
from triage.runtime.migrations import (
    drop_outbox_published_at,
    tenant_rls_sql,
    upgrade,
    upgrade_outbox_to_pending,
)
from triage.runtime.outbox import Outbox, OutboxRelay

pytestmark = pytest.mark.integration
MIGRATIONS = str(Path(__file__).parent / "demo_migrations")


@dataclass
class RecordingBus:
    """Stands in for the bus: records what the relay publishes, optionally slowly."""

    delay: float = 0.0
    published: list[str] = field(default_factory=list)

    async def publish_raw(
        self,
        subject: str,
        payload: bytes,
        *,
        event_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Record ``event_id`` after ``delay`` seconds."""
        await asyncio.sleep(self.delay)
        self.published.append(event_id)

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """Publish each message as :meth:`publish_raw` does, all at once."""
        await asyncio.gather(
            *(
                self.publish_raw(m.subject, m.payload, event_id=m.event_id, headers=m.headers)
                for m in messages
            )
        )


@dataclass
class Setup:
    """The demo schema's database and outbox, with relays built on demand (none running)."""

    db: Database
    outbox: Outbox

    def relay(
        self, bus: RecordingBus, *, batch_size: int = 500, linger_seconds: float = 0.005
    ) -> OutboxRelay:
        """A relay publishing to ``bus``."""
        return OutboxRelay(
            db=self.db,
            bus=cast(Bus, bus),
            outbox=self.outbox,
            service="demo",
            batch_size=batch_size,
            linger_seconds=linger_seconds,
        )

    async def write(self, tenant_id: str, body: str = "note") -> str:
        """A note and its event in one tenant transaction; the event id."""
        envelope = _envelope(tenant_id, body)
        async with self.db.transaction(tenant_id) as session:
            await session.execute(
                notes.insert().values(id=str(uuid.uuid4()), tenant_id=tenant_id, body=body)
            )
            await self.outbox.add(session, envelope)
        return envelope.event_id

    async def counts(self) -> tuple[int, int]:
        """(outbox rows, pending ids), seen by the owner."""
        async with self.db.system_transaction() as session:
            rows = (await session.execute(select(func.count()).select_from(outbox))).scalar_one()
            pending = (
                await session.execute(select(func.count()).select_from(outbox_pending))
            ).scalar_one()
        return int(rows), int(pending)


def _envelope(tenant_id: str, body: str) -> Envelope:
    return new_envelope(
        tenant_id=tenant_id,
        event_type="alert.received",
        payload=wrappers_pb2.StringValue(value=body),
        producer="demo",
    )


@pytest.fixture
async def setup(fresh_db: str) -> AsyncIterator[Setup]:
    """The demo schema at head in a fresh database."""
    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)
    db = Database(fresh_db, schema=SCHEMA, pool_size=4)
    try:
        yield Setup(db, Outbox(outbox))
    finally:
        await db.dispose()


async def _drain(relay: OutboxRelay) -> int:
    total = 0
    while published := await relay.publish_pending():
        total += published
    return total


async def test_a_rolled_back_transaction_leaves_nothing_to_publish(setup: Setup) -> None:
    tenant = str(uuid.uuid4())

    async def stage_then_fail() -> None:
        async with setup.db.transaction(tenant) as session:
            await setup.outbox.add(session, _envelope(tenant, "never"))
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        await stage_then_fail()
    bus = RecordingBus()
    assert await setup.relay(bus).publish_pending() == 0
    assert await setup.counts() == (0, 0)
    assert bus.published == []
    assert not setup.outbox._wake.is_set()


async def test_the_relay_empties_the_queue_and_keeps_the_row(setup: Setup) -> None:
    event_id = await setup.write(str(uuid.uuid4()))
    assert setup.outbox._wake.is_set()
    assert await setup.counts() == (1, 1)
    bus = RecordingBus()
    relay = setup.relay(bus)
    assert await relay.publish_pending() == 1
    assert await relay.publish_pending() == 0
    assert bus.published == [event_id]
    assert await setup.counts() == (1, 0)


async def test_tenant_transactions_can_queue_ids_but_not_see_or_remove_them(
    setup: Setup,
) -> None:
    tenant = str(uuid.uuid4())
    await setup.write(tenant)
    async with setup.db.transaction(tenant) as session:
        seen = (await session.execute(select(func.count()).select_from(outbox_pending))).scalar()
        removed = (
            await session.execute(outbox_pending.delete().returning(outbox_pending.c.id))
        ).all()
    assert (seen, removed) == (0, [])
    assert await setup.counts() == (1, 1)


async def test_two_relays_racing_publish_every_row_and_empty_the_queue(setup: Setup) -> None:
    tenants = [str(uuid.uuid4()) for _ in range(3)]
    written = [await setup.write(tenants[i % 3], f"n{i}") for i in range(40)]
    # Slow publishes hold each batch's locks long enough for the other relay to skip them.
    first, second = RecordingBus(delay=0.01), RecordingBus(delay=0.01)
    totals = await asyncio.gather(
        _drain(setup.relay(first, batch_size=5)), _drain(setup.relay(second, batch_size=5))
    )
    published = Counter(first.published + second.published)
    assert set(published) == set(written)
    # SKIP LOCKED and the dequeue in the same transaction: nobody publishes a row twice.
    assert set(published.values()) == {1}
    assert all(totals), totals
    assert await setup.counts() == (40, 0)


async def test_republish_since_queues_committed_rows_again(setup: Setup) -> None:
    tenant = str(uuid.uuid4())
    old, new = await setup.write(tenant, "old"), await setup.write(tenant, "new")
    async with setup.db.system_transaction() as session:
        await session.execute(
            update(outbox)
            .where(outbox.c.event_id == old)
            .values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
    bus = RecordingBus()
    relay = setup.relay(bus)
    assert await _drain(relay) == 2
    setup.outbox._wake.clear()
    assert await relay.republish_since(datetime.now(UTC) - timedelta(hours=1)) == 1
    # Already queued: counted once.
    assert await relay.republish_since(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert setup.outbox._wake.is_set()
    assert await setup.counts() == (2, 1)
    assert await _drain(relay) == 1
    assert bus.published[2:] == [new]
    assert await relay.republish_since(datetime.now(UTC) + timedelta(hours=1)) == 0


async def test_cleanup_drops_old_published_rows_and_keeps_pending_ones(setup: Setup) -> None:
    tenant = str(uuid.uuid4())
    published_old = await setup.write(tenant, "published, old")
    published_new = await setup.write(tenant, "published, new")
    relay = setup.relay(RecordingBus())
    await _drain(relay)
    pending_old = await setup.write(tenant, "pending, old")
    long_ago = datetime.now(UTC) - timedelta(hours=73)
    async with setup.db.system_transaction() as session:
        await session.execute(
            update(outbox)
            .where(outbox.c.event_id.in_([published_old, pending_old]))
            .values(created_at=long_ago)
        )
    await relay._maybe_cleanup()
    async with setup.db.system_transaction() as session:
        left = set((await session.execute(select(outbox.c.event_id))).scalars())
    assert left == {published_new, pending_old}
    assert await setup.counts() == (2, 1)


# The outbox as releases before the pending queue created it.
_OLD_OUTBOX = f"""
CREATE TABLE {SCHEMA}.outbox (
    id BIGSERIAL PRIMARY KEY,
    event_id UUID NOT NULL UNIQUE,
    tenant_id UUID NOT NULL,
    subject TEXT NOT NULL,
    type TEXT NOT NULL,
    envelope BYTEA NOT NULL,
    headers JSONB NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
    published_at TIMESTAMP WITH TIME ZONE
);
CREATE INDEX outbox_unpublished ON {SCHEMA}.outbox (id) WHERE published_at IS NULL
"""
# What a relay of those releases claims.
_OLD_RELAY_CLAIM = f"SELECT id FROM {SCHEMA}.outbox WHERE published_at IS NULL"
# How those releases stage an event (no pending id).
_OLD_INSERT = (
    f"INSERT INTO {SCHEMA}.outbox (event_id, tenant_id, subject, type, envelope, headers) "
    "VALUES (%(event_id)s, %(tenant_id)s, %(subject)s, %(type)s, %(envelope)s, %(headers)s)"
)


def _old_row(tenant_id: str) -> dict[str, object]:
    envelope = _envelope(tenant_id, "old release")
    return {
        "event_id": envelope.event_id,
        "tenant_id": tenant_id,
        "subject": subject_for("alert.received", tenant_id),
        "type": "alert.received",
        "envelope": envelope.SerializeToString(),
        "headers": Jsonb({}),
    }


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _old_database(url: str) -> None:
    """The demo schema at revision 0001 as the previous releases made it."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        metadata.create_all(connection, tables=[notes, effects, inbox])
        for statement in _OLD_OUTBOX.split(";"):
            connection.execute(text(statement))
        for table in ("notes", "effects", "outbox", "inbox"):
            for statement in tenant_rls_sql(f"{SCHEMA}.{table}"):
                connection.execute(text(statement))
        connection.execute(
            text(f"CREATE TABLE {SCHEMA}.alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        )
        connection.execute(text(f"INSERT INTO {SCHEMA}.alembic_version VALUES ('0001')"))
    engine.dispose()


async def test_the_migration_upgrades_an_old_outbox_without_losing_an_event(
    fresh_db: str,
) -> None:
    tenant = str(uuid.uuid4())
    _old_database(fresh_db)
    rows = [_old_row(tenant) for _ in range(3)]
    with psycopg.connect(_libpq(fresh_db), autocommit=True) as conn:
        for row in rows:
            conn.execute(_OLD_INSERT, row)
        conn.execute(
            f"UPDATE {SCHEMA}.outbox SET published_at = now() WHERE event_id = %s",
            (rows[0]["event_id"],),
        )
    unpublished = {str(r["event_id"]) for r in rows[1:]}

    upgrade(fresh_db, schema=SCHEMA, script_location=MIGRATIONS)

    db = Database(fresh_db, schema=SCHEMA, pool_size=4)
    try:
        setup = Setup(db, Outbox(outbox))
        with psycopg.connect(_libpq(fresh_db), autocommit=True) as conn:
            # Relays of the previous release, still running, find nothing left to claim...
            assert conn.execute(_OLD_RELAY_CLAIM).fetchall() == []
            # ...and what its pods still write (as the app role, RLS on) is queued for ours.
            late = _old_row(tenant)
            with conn.transaction():
                conn.execute("SELECT set_config('role', %s, true)", (db.role,))
                conn.execute("SELECT set_config('triage.tenant_id', %s, true)", (tenant,))
                conn.execute(_OLD_INSERT, late)
            assert conn.execute(_OLD_RELAY_CLAIM).fetchall() == []
        written = await setup.write(tenant)
        assert await setup.counts() == (5, 4)
        bus = RecordingBus()
        assert await _drain(setup.relay(bus)) == 4
        assert Counter(bus.published) == Counter(unpublished | {str(late["event_id"]), written})

        # Idempotent: applying it again queues nothing.
        engine = create_engine(fresh_db, poolclass=NullPool)
        with engine.begin() as connection:
            upgrade_outbox_to_pending(SCHEMA, connection)
        assert await setup.counts() == (5, 0)

        # The next release's contract step leaves the final shape, which keeps working.
        with engine.begin() as connection:
            drop_outbox_published_at(SCHEMA, connection)
            drop_outbox_published_at(SCHEMA, connection)
            columns = set(
                connection.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = :s AND table_name = 'outbox'"
                    ),
                    {"s": SCHEMA},
                ).scalars()
            )
            leftovers = connection.execute(
                text(
                    "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND NOT t.tgisinternal"
                ),
                {"s": SCHEMA},
            ).scalar()
            index = connection.execute(
                text("SELECT to_regclass(:i)"), {"i": f"{SCHEMA}.outbox_unpublished"}
            ).scalar()
        engine.dispose()
        assert "published_at" not in columns
        assert (leftovers, index) == (0, None)
        final = await setup.write(tenant)
        bus = RecordingBus()
        assert await _drain(setup.relay(bus)) == 1
        assert bus.published == [final]
    finally:
        await db.dispose()


async def test_a_new_database_has_the_final_shape(setup: Setup) -> None:
    async with setup.db.system_transaction() as session:
        columns = set(
            (
                await session.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = :s AND table_name = 'outbox'"
                    ),
                    {"s": SCHEMA},
                )
            ).scalars()
        )
        secured = (
            await session.execute(
                text("SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass(:t)"),
                {"t": f"{SCHEMA}.outbox_pending"},
            )
        ).scalar()
    assert "published_at" not in columns
    assert secured is True
