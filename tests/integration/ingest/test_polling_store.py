"""Polling's reads of ``alert_events`` through the tenant's indexes (issue 13): an
integration's series are the key range ``{integration id}:`` of its tenant's, and the
index of their own that every stored alert paid for is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from services.ingest.domain.alerts import AlertKind
from services.ingest.store import polls
from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.ledger import libpq
from triage.runtime.db import Database
from triage.runtime.ids import new_id

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(ingest: Ingest) -> AsyncIterator[Database]:
    """The ingest database, as the service's store sees it."""
    database = Database(ingest.svc.settings.database_url, schema="ingest")
    try:
        yield database
    finally:
        await database.dispose()


async def store_event(
    ingest: Ingest,
    *,
    tenant_id: str,
    integration_id: str,
    series: str,
    kind: str,
    received_at: datetime,
    occurred_at: datetime | None = None,
    origin: str | None = None,
) -> str:
    """Store one alert event row as the owner; returns its id."""
    alert_id = new_id()
    labels = psycopg.types.json.Jsonb({"triage.origin": origin} if origin else {})
    async with await psycopg.AsyncConnection.connect(
        libpq(ingest.svc.settings.database_url), autocommit=True
    ) as conn:
        await conn.execute(
            "INSERT INTO ingest.alert_events (id, tenant_id, integration_id, provider, kind,"
            " series_key, delivery_key, device_id, condition, severity, summary, message,"
            " labels, occurred_at, received_at)"
            " VALUES (%s, %s, %s, 'ninjaone', %s, %s, %s, '42', 'disk', 3, 's', 'm', %s, %s, %s)",
            (
                alert_id,
                tenant_id,
                integration_id,
                kind,
                f"{integration_id}:{series}",
                alert_id,
                labels,
                occurred_at,
                received_at,
            ),
        )
    return alert_id


async def test_the_integration_series_index_is_gone(ingest: Ingest) -> None:
    async with await psycopg.AsyncConnection.connect(
        libpq(ingest.svc.settings.database_url)
    ) as conn:
        rows = await (
            await conn.execute(
                "SELECT indexname FROM pg_indexes"
                " WHERE schemaname = 'ingest' AND tablename = 'alert_events'"
            )
        ).fetchall()
    names = {r[0] for r in rows}
    assert "alert_events_by_integration_series" not in names
    assert {"alert_events_by_series", "alert_events_by_tenant_time"} <= names


async def test_polling_reads_only_the_integration_s_own_series(
    ingest: Ingest, db: Database
) -> None:
    tenant = ingest.tenant_id
    mine, _ = await ingest.integration("ninjaone")
    sibling, _ = await ingest.integration("ninjaone")
    other_tenant = await ingest.new_tenant("Other MSP")
    foreign, _ = await ingest.integration("ninjaone", tenant_id=other_tenant)

    async def event(
        integration: str, series: str, kind: str, minutes: int, origin: str | None = None
    ) -> str:
        owner = other_tenant if integration == foreign else tenant
        return await store_event(
            ingest,
            tenant_id=owner,
            integration_id=integration,
            series=series,
            kind=kind,
            received_at=T0 + timedelta(minutes=minutes),
            origin=origin,
        )

    polled = await event(mine, "a", "trigger", 0, origin="poll")
    await event(mine, "b", "trigger", 1)
    reset = await event(mine, "a", "reset", 2)
    others = [
        await event(sibling, "a", "trigger", 3, origin="poll"),
        await event(sibling, "a", "reset", 4),
        await event(foreign, "a", "trigger", 3, origin="poll"),
        await event(foreign, "a", "reset", 4),
    ]

    async with db.system_transaction() as session:
        states = await polls.series_states(
            session, tenant_id=tenant, integration_id=mine, since=T0 - timedelta(days=1)
        )
        later = await polls.later_series_events(
            session, tenant_id=tenant, integration_id=mine, alert_ids=[polled]
        )
        keys = await polls.series_keys(
            session, tenant_id=tenant, integration_id=mine, alert_ids=[polled, *others]
        )
        closed = await polls.closed_polled(
            session, tenant_id=tenant, integration_id=mine, since=T0 - timedelta(days=1)
        )

    assert {(s.series_key, s.kind) for s in states} == {
        ("a", AlertKind.RESET),
        ("b", AlertKind.TRIGGER),
    }
    assert [(e.series_key, e.kind) for e in later] == [
        ("b", AlertKind.TRIGGER),
        ("a", AlertKind.RESET),
    ]
    assert keys == {polled: "a"}
    assert [(c.alert_id, c.series_key) for c in closed] == [(polled, "a")]
    assert reset not in {c.alert_id for c in closed}


async def test_a_series_state_is_its_latest_event_by_when_it_happened(
    ingest: Ingest, db: Database
) -> None:
    tenant = ingest.tenant_id
    integration, _ = await ingest.integration("ninjaone")

    async def event(series: str, kind: str, occurred: int, received: int) -> str:
        return await store_event(
            ingest,
            tenant_id=tenant,
            integration_id=integration,
            series=series,
            kind=kind,
            occurred_at=T0 + timedelta(minutes=occurred),
            received_at=T0 + timedelta(minutes=received),
        )

    # "late": the trigger of the firing a reset closed, delivered after that reset.
    await event("late", "trigger", 0, 0)
    late_reset = await event("late", "reset", 5, 5)
    await event("late", "trigger", 1, 9)
    # "again": a new firing after the reset is open.
    await event("again", "trigger", 0, 0)
    await event("again", "reset", 5, 5)
    again = await event("again", "trigger", 8, 9)
    # "early": a reset delivered before its own trigger closes the series all the same.
    early_reset = await event("early", "reset", 5, 5)
    await event("early", "trigger", 1, 6)

    async with db.system_transaction() as session:
        states = await polls.series_states(
            session, tenant_id=tenant, integration_id=integration, since=T0 - timedelta(days=1)
        )
    assert {s.series_key: (s.kind, s.alert_id) for s in states} == {
        "late": (AlertKind.RESET, late_reset),
        "again": (AlertKind.TRIGGER, again),
        "early": (AlertKind.RESET, early_reset),
    }
