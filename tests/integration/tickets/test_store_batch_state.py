"""The alert batch's set statements for tombstones and latest series positions store and
find what the one-row forms do."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.tickets import models
from services.tickets.domain.alerts import AlertKind
from services.tickets.domain.order import Logged
from services.tickets.store import alert_state as alert_store
from services.tickets.store import series_log
from services.tickets.wiring import SPEC
from triage.runtime.db import Database, bind_tenants
from triage.runtime.migrations import upgrade

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(fresh_db: str) -> AsyncIterator[Database]:
    """A migrated tickets database."""
    upgrade(fresh_db, schema=models.SCHEMA, script_location=str(SPEC.migrations))
    database = Database(fresh_db, schema=models.SCHEMA, pool_size=2)
    try:
        yield database
    finally:
        await database.dispose()


def _reset(tenant: str, series: str, minutes: int, sequence: int) -> alert_store.Reset:
    return alert_store.Reset(
        tenant, series, T0 + timedelta(minutes=minutes), sequence, f"{series}-{minutes}-{sequence}"
    )


async def _stones(
    db: Database, tenants: list[str], series: list[tuple[str, str]]
) -> dict[tuple[str, str], alert_store.Tombstone | None]:
    async with db.transaction(None) as session:
        await bind_tenants(session, tenants)
        return {
            (t, s): await alert_store.get_tombstone(session, tenant_id=t, series_key=s)
            for t, s in series
        }


async def test_put_tombstones_keeps_each_series_latest_reset(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        await alert_store.put_tombstones(
            session, [_reset(a, "s1", 10, 5), _reset(a, "s2", 10, 5), _reset(b, "s1", 3, 1)]
        )
        await alert_store.put_tombstones(session, [])
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        # Older (earlier, or same time and lower sequence) resets leave a tombstone alone;
        # later ones (later, or same time and higher sequence) replace it.
        await alert_store.put_tombstones(
            session,
            [
                _reset(a, "s1", 9, 99),
                _reset(a, "s2", 10, 6),
                _reset(b, "s1", 3, 0),
                _reset(b, "new", 1, 1),
            ],
        )
    series = [(a, "s1"), (a, "s2"), (b, "s1"), (b, "new"), (a, "none")]
    assert await _stones(db, [a, b], series) == {
        (a, "s1"): alert_store.Tombstone(T0 + timedelta(minutes=10), 5),
        (a, "s2"): alert_store.Tombstone(T0 + timedelta(minutes=10), 6),
        (b, "s1"): alert_store.Tombstone(T0 + timedelta(minutes=3), 1),
        (b, "new"): alert_store.Tombstone(T0 + timedelta(minutes=1), 1),
        (a, "none"): None,
    }


def _entry(series: str, kind: AlertKind, minutes: int, sequence: int) -> Logged:
    return Logged(
        series_key=series,
        alert_id=f"{series}-{kind.name}-{minutes}-{sequence}",
        kind=kind,
        occurred_at=T0 + timedelta(minutes=minutes),
        sequence=sequence,
        ticket_id=None,
    )


async def test_latest_finds_each_series_newest_trigger_and_reset(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    trigger, reset = AlertKind.TRIGGER, AlertKind.RESET
    entries = [
        (a, _entry("s1", trigger, 1, 1)),
        (a, _entry("s1", trigger, 5, 2)),
        (a, _entry("s1", trigger, 5, 1)),  # same instant, lower sequence
        (a, _entry("s1", reset, 3, 9)),
        (a, _entry("s1", reset, 2, 1)),
        (a, _entry("s2", reset, 7, 1)),  # resets only
        (b, _entry("s1", trigger, 9, 9)),  # another tenant, same series key
        (b, _entry("unwanted", trigger, 1, 1)),
    ]
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        await series_log.add_many(session, entries)
        found = await series_log.latest(session, [(a, "s1"), (a, "s2"), (b, "s1"), (a, "s1")])
        none = await series_log.latest(session, [(a, "nothing logged")])
        empty = await series_log.latest(session, [])
    assert found == {
        (a, "s1", trigger): (T0 + timedelta(minutes=5), 2),
        (a, "s1", reset): (T0 + timedelta(minutes=3), 9),
        (a, "s2", reset): (T0 + timedelta(minutes=7), 1),
        (b, "s1", trigger): (T0 + timedelta(minutes=9), 9),
    }
    assert none == empty == {}


async def test_the_series_log_age_index_is_brin(db: Database) -> None:
    # Every alert inserts a series_log row; the retention's age scan needs no B-tree entry
    # per row (migration 0010).
    async with db.system_transaction() as session:
        found = (
            await session.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = :schema "
                    "AND indexname = 'series_log_by_time'"
                ),
                {"schema": models.SCHEMA},
            )
        ).scalar_one()
    assert "USING brin (occurred_at)" in found


async def test_the_series_log_indexes_resets_apart(db: Database) -> None:
    # The newest reset of a series is found without walking its triggers (migration 0011).
    async with db.system_transaction() as session:
        found = (
            await session.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = :schema "
                    "AND indexname = 'series_log_resets'"
                ),
                {"schema": models.SCHEMA},
            )
        ).scalar_one()
    assert found.endswith("(tenant_id, series_key, occurred_at, sequence) WHERE (kind = 2)")
