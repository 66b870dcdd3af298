"""The webhook group commit cannot outlive a tenant's deletion either (issue 18). A batch
carries several tenants, so it is not refused whole: its one statement takes each tenant's
admission lock shared and leaves out the rows of the tenants deleted here. A batch still
open when ingest's deletion step begins is waited for, and its rows deleted with the rest;
one that begins after the tombstone stores nothing of that tenant, answers its webhooks 410
and stores its batch mates' as before."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text

from services.ingest.errors import TenantDeleted
from services.ingest.models import outbox
from services.ingest.store.alert_writes import insert_alert_batch
from services.ingest.store.tenant_data import TENANT_DATA
from services.ingest.workers.alert_writer import AlertWriter
from tests.integration.ingest import conftest as ingest_harness
from tests.integration.ingest.conftest import Ingest, ninja_trigger
from tests.integration.ingest.ledger import libpq
from tests.integration.ingest.test_writer_isolation import record
from triage.runtime import tombstones
from triage.runtime.db import Database
from triage.runtime.offboarding import TenantOffboarding
from triage.runtime.outbox import Outbox

pytestmark = pytest.mark.integration
ingest = ingest_harness.ingest
WITHIN_SECONDS = 10.0
#: The rows a webhook writes (its events only, in the outbox).
TABLES = {
    "alert_events": "",
    "webhook_bodies": "",
    "outbox": " AND type = 'alert.received'",
}


@pytest.fixture
async def db(ingest: Ingest) -> AsyncIterator[Database]:
    """A second handle on ingest's database (the test's own writer and deletion step)."""
    handle = Database(ingest.svc.settings.database_url, schema="ingest")
    try:
        yield handle
    finally:
        await handle.dispose()


async def rows_of(ingest: Ingest, tenant_id: str) -> dict[str, int]:
    """How many rows of ``tenant_id`` the webhook path wrote, by table (empty: none)."""
    counts: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(
        libpq(ingest.svc.settings.database_url), autocommit=True
    ) as conn:
        for table, only in TABLES.items():
            query = f"SELECT count(*) FROM ingest.{table} WHERE tenant_id = %s{only}"
            found = await (await conn.execute(query, (tenant_id,))).fetchone()
            if found is not None and found[0]:
                counts[table] = int(found[0])
    return counts


async def bury_here(db: Database, tenant_id: str) -> None:
    """Tombstone ``tenant_id`` in ingest's schema only: a replica whose access bucket has
    not heard of the deletion still admits its webhooks up to the batch."""
    async with db.system_transaction() as session:
        await tombstones.bury(session, schema="ingest", tenant_id=tenant_id)


async def waits_for_a_lock(db: Database) -> bool:
    """Whether some session of the database waits for an advisory lock."""
    async with db.system_transaction() as session:
        found = await session.execute(
            text("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        )
        return found.first() is not None


async def test_a_batch_under_way_when_the_deletion_begins_leaves_no_row(
    ingest: Ingest, db: Database
) -> None:
    integration_id, _ = await ingest.integration("generic")
    tenant = ingest.tenant_id
    wrote, release = asyncio.Event(), asyncio.Event()

    async def batch_writer() -> None:
        # The group commit's own transaction and statement, held open after the insert.
        records = [record(tenant, integration_id, 1)]
        async with db.pipelined_transaction([tenant]) as tx:
            cursor = await insert_alert_batch(tx, records, [], records)
            await cursor.fetchall()
            wrote.set()
            await release.wait()

    writer = asyncio.create_task(batch_writer())
    await wrote.wait()
    step = TenantOffboarding(db=db, outbox=Outbox(outbox), data=TENANT_DATA, service="ingest")
    deleting = asyncio.create_task(step.delete(tenant))
    try:
        deadline = time.monotonic() + WITHIN_SECONDS
        while not deleting.done() and not await waits_for_a_lock(db):
            assert time.monotonic() < deadline, "the deletion neither finished nor waited"
            await asyncio.sleep(0.02)
        assert not deleting.done(), "the deletion went ahead of a batch under way"
    finally:
        release.set()
        await writer
    await asyncio.wait_for(deleting, timeout=30)
    assert await rows_of(ingest, tenant) == {}


async def test_a_batch_after_the_tombstone_refuses_only_the_deleted_tenant(
    ingest: Ingest, db: Database
) -> None:
    gone_integration, _ = await ingest.integration("generic")
    gone = ingest.tenant_id
    kept = await ingest.new_tenant("staying")
    kept_integration, _ = await ingest.integration("generic", tenant_id=kept)
    await bury_here(db, gone)
    # One loop and a long window: every request below lands in one batch.
    writer = AlertWriter(db=db, outbox=Outbox(outbox), window_seconds=0.5, concurrency=1)
    loops = asyncio.create_task(writer.run())
    try:
        answers = await asyncio.gather(
            writer.write([record(kept, kept_integration, 1)]),
            writer.write([record(gone, gone_integration, 2), record(gone, gone_integration, 3)]),
            writer.write([record(kept, kept_integration, 4)]),
            return_exceptions=True,
        )
    finally:
        loops.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loops
    assert isinstance(answers[1], TenantDeleted), answers[1]
    assert all(isinstance(a, list) and len(a) == 1 for a in (answers[0], answers[2])), answers
    assert await rows_of(ingest, gone) == {}
    assert await rows_of(ingest, kept) == {"alert_events": 2, "webhook_bodies": 2, "outbox": 2}


async def test_a_webhook_admitted_before_the_key_arrived_is_answered_410(
    ingest: Ingest, db: Database
) -> None:
    gone_integration, gone_secret = await ingest.integration("ninjaone")
    gone = ingest.tenant_id
    kept = await ingest.new_tenant("staying")
    kept_integration, kept_secret = await ingest.integration("ninjaone", tenant_id=kept)
    await bury_here(db, gone)

    refused, accepted = await asyncio.gather(
        ingest.post("ninjaone", gone_integration, ninja_trigger("s-1", 1), secret=gone_secret),
        ingest.post("ninjaone", kept_integration, ninja_trigger("s-2", 2), secret=kept_secret),
    )
    assert refused.status_code == 410, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/tenant-deleted") and problem["reason"] == "TENANT_DELETED"
    assert gone not in refused.text
    assert accepted.status_code == 202, accepted.text
    assert await rows_of(ingest, gone) == {}
    assert (await rows_of(ingest, kept))["alert_events"] == 1
