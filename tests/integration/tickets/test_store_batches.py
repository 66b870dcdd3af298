"""The tickets store's batch statements store and find exactly what one-row calls would."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.tickets import models
from services.tickets.domain.tickets import (
    CloseReason,
    Priority,
    Source,
    Status,
    Ticket,
)
from services.tickets.store import alert_state as alert_store
from services.tickets.store import batches as batch_store
from services.tickets.store import settings as settings_store
from services.tickets.store import tickets as ticket_store
from services.tickets.wiring import SPEC
from triage.runtime.db import Database, bind_tenants
from triage.runtime.migrations import upgrade

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# Elements an array literal must quote or escape.
AWKWARD = (
    'a "quoted" key',
    "back\\slash",
    "comma,brace}{",
    "",
    "NULL",
    " spaced ",
    "\u00e9t\u00e9",
)


@pytest.fixture
async def db(fresh_db: str) -> AsyncIterator[Database]:
    """A migrated tickets database."""
    upgrade(fresh_db, schema=models.SCHEMA, script_location=str(SPEC.migrations))
    database = Database(fresh_db, schema=models.SCHEMA, pool_size=2)
    try:
        yield database
    finally:
        await database.dispose()


def _ticket(tenant: str, number: int, **fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "number": number,
        "title": f"ticket {number}",
        "created_at": T0 + timedelta(minutes=number),
        "updated_at": T0 + timedelta(minutes=number),
    }
    values.update(fields)
    return Ticket(**values)


async def _read(db: Database, tenants: list[str], tickets: list[Ticket]) -> list[Ticket | None]:
    async with db.transaction(None) as session:
        await bind_tenants(session, tenants)
        return [
            await ticket_store.get_ticket(session, tenant_id=t.tenant_id, ticket_id=t.id)
            for t in tickets
        ]


async def test_tickets_round_trip_across_tenants(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    full = _ticket(
        a,
        1,
        title='disk "C:" low \\ again',
        description="free space 4%",
        client_id="c-1",
        client_name="Acme",
        site_id="s-1",
        site_name="HQ",
        device_id="dev-1",
        device_name="DEV-1",
        priority=Priority(1),
        status=Status.OPEN,
        queue="ops",
        assignee="bob",
        source=Source.ALERT,
        severity=4,
        condition="disk-c",
        dedup_key=f"{a}/dev-1/disk-c",
        occurrence_count=3,
        first_occurrence_at=T0,
        last_occurrence_at=T0 + timedelta(minutes=3),
        linked_series_keys=AWKWARD,
        rule_id="rule-1",
        close_on_reset=True,
        reset_in_rmm_on_close=True,
        notification_channel_ids=("ch-1", "ch-2"),
        human_touched=True,
        reopen_count=2,
        version=9,
        occurrence_comment_at=T0 + timedelta(minutes=2),
        uncommented_occurrences=1,
    )
    bare = _ticket(a, 2)  # NULL dedup key and instants, empty arrays, defaults
    closed = _ticket(
        b,
        1,
        dedup_key=f"{b}/dev-1/disk-c",
        linked_series_keys=("int-1:s",),
        status=Status.CLOSED,
        close_reason=CloseReason(2),
        closed_at=T0 + timedelta(hours=1),
    )
    tickets = [full, bare, closed]
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        assert await batch_store.insert_tickets(session, tickets) == 3
    assert await _read(db, [a, b], tickets) == tickets

    # The open ticket holds its key: a second one is not inserted, also not when both are
    # new in one call; a closed ticket's key is free.
    taken = _ticket(a, 3, dedup_key=full.dedup_key)
    fresh = [_ticket(b, n, dedup_key=f"{b}/dev-2/x") for n in (2, 3)]
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        assert await batch_store.insert_tickets(session, [taken, *fresh]) == 1
        reused = _ticket(b, 4, dedup_key=closed.dedup_key)
        assert await batch_store.insert_tickets(session, [reused]) == 1
    assert await _read(db, [a, b], [taken, *fresh, reused]) == [None, fresh[0], None, reused]

    first = dataclasses.replace(full, title="first", version=10)
    last = dataclasses.replace(
        first,
        title="last",
        version=11,
        status=Status.CLOSED,
        close_reason=CloseReason(1),
        closed_at=T0 + timedelta(hours=2),
        linked_series_keys=(),
        dedup_key=None,
    )
    filled = dataclasses.replace(
        bare,
        linked_series_keys=("one",),
        notification_channel_ids=AWKWARD,
        first_occurrence_at=T0,
        last_occurrence_at=T0,
        priority=Priority(2),
        source=Source.ALERT,
    )
    reopened = dataclasses.replace(
        closed,
        status=Status.OPEN,
        closed_at=None,
        reopen_count=1,
        dedup_key=f"{b}/dev-9/x",  # its old key is held by ``reused`` now
    )
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        # Several versions of one ticket in one call: the last is written.
        await batch_store.save_tickets(session, [first, filled, reopened, last])
    assert await _read(db, [a, b], [full, bare, closed]) == [last, filled, reopened]


async def test_open_tickets_for_series_many_finds_what_one_lookup_finds(db: Database) -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    older = _ticket(a, 1, linked_series_keys=("s1", "s2"))
    newer = _ticket(a, 2, linked_series_keys=("x", "s1"))
    gone = _ticket(a, 3, linked_series_keys=("s1", "s3"), closed_at=T0 + timedelta(hours=1))
    other = _ticket(b, 1, linked_series_keys=("s1",))
    pairs = [(a, "s1"), (a, "s2"), (a, "s3"), (a, "none"), (b, "s1"), (b, "s2"), (a, "s1")]
    async with db.transaction(None) as session:
        await bind_tenants(session, [a, b])
        await batch_store.insert_tickets(session, [older, newer, gone, other])
        found = await batch_store.open_tickets_for_series_many(session, pairs)
        one_by_one = {
            (t, s): ticket
            for t, s in pairs
            if (
                ticket := await ticket_store.open_ticket_for_series(
                    session, tenant_id=t, series_key=s
                )
            )
        }
        assert await batch_store.open_tickets_for_series_many(session, []) == {}
    assert found == one_by_one == {(a, "s1"): newer, (a, "s2"): older, (b, "s1"): other}


async def test_batch_state_in_one_round_trip_reads_what_the_separate_reads_do(
    db: Database,
) -> None:
    from services.tickets.domain.tickets import TenantSettings

    a, b, c = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    custom = TenantSettings(
        closed_statuses=frozenset({Status.CLOSED}),
        occurrence_comment_interval=timedelta(minutes=5),
        reopen_within=timedelta(hours=2),
    )
    # Dedup keys begin with their tenant id, as the domain builds them.
    held = _ticket(a, 1, dedup_key=f"{a}:k1", linked_series_keys=AWKWARD)
    done = _ticket(a, 2, dedup_key=f"{a}:k2", closed_at=T0 + timedelta(hours=1))
    theirs = _ticket(b, 1, dedup_key=f"{b}:k1")
    keys = [(a, f"{a}:k1"), (a, f"{a}:k2"), (b, f"{b}:k1"), (c, f"{c}:k1")]
    series = [(a, "s1"), (b, "s1"), (a, "none")]
    async with db.transaction(None, tenants=[a, b, c]) as session:
        await settings_store.put_settings(session, tenant_id=a, settings=custom)
        await batch_store.insert_tickets(session, [held, done, theirs])
        for tenant, key, at in ((a, "s1", T0), (b, "s1", T0 + timedelta(minutes=1))):
            await alert_store.put_tombstone(
                session,
                tenant_id=tenant,
                series_key=key,
                reset_at=at,
                reset_sequence=3,
                alert_id="",
            )
        together = await batch_store.lock_and_read_batch(session, keys, series)
        apart = batch_store.BatchState(
            await settings_store.get_settings_many(session, {t for t, _ in keys}),
            await batch_store.tombstones_for(session, series),
            await batch_store.open_tickets_for_keys(session, keys),
        )
    assert together == apart
    assert together.settings[a] == custom
    assert together.settings[c] == TenantSettings()
    assert together.open_tickets == {f"{a}:k1": held, f"{b}:k1": theirs}
    assert set(together.tombstones) == {(a, "s1"), (b, "s1")}
