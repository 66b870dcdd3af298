"""Group commit: a record the database or the event encoder refuses fails alone; the
requests that shared its batch are stored and answered as if it had not been there."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import psycopg
import pytest

from services.ingest.domain.alerts import AlertKind, NormalizedAlert, Severity
from services.ingest.domain.records import AlertRecord, RawBody
from services.ingest.errors import UnstorableAlert
from services.ingest.models import outbox
from services.ingest.workers.alert_writer import AlertWriter
from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.ledger import libpq
from triage.runtime.db import Database
from triage.runtime.ids import new_id
from triage.runtime.outbox import Outbox

pytestmark = pytest.mark.integration


def record(tenant_id: str, integration_id: str, n: int) -> AlertRecord:
    """One generic trigger of ``tenant_id`` (its number ``n`` in its key and labels)."""
    alert = NormalizedAlert(
        kind=AlertKind.TRIGGER,
        series_key=f"series-{n}",
        condition="disk",
        severity=Severity.HIGH,
        title=f"disk {n}",
        message="full",
        labels={"n": str(n)},
    )
    return AlertRecord(
        alert_id=new_id(),
        tenant_id=tenant_id,
        integration_id=integration_id,
        provider="generic",
        delivery_key=f"key-{n}",
        received_at=datetime.now(UTC),
        content_type="application/json",
        body=RawBody(id=new_id(), raw=b'{"n": %d}' % n),
        alert=alert,
    )


def _with_labels(record: AlertRecord, labels: dict[str, str]) -> AlertRecord:
    # Past the domain's own cleaning: stands for any record a future bug lets through.
    object.__setattr__(record.alert, "labels", labels)
    return record


async def test_an_unstorable_record_fails_alone_in_its_batch(ingest: Ingest) -> None:
    integration_id, _ = await ingest.integration("generic")
    tenant = ingest.tenant_id
    db = Database(ingest.svc.settings.database_url, schema="ingest")
    # One loop and a long window: every request below lands in one batch.
    writer = AlertWriter(db=db, outbox=Outbox(outbox), window_seconds=0.5, concurrency=1)
    loops = asyncio.create_task(writer.run())
    try:
        good = [[record(tenant, integration_id, n)] for n in range(10)]
        refused_by_database = [_with_labels(record(tenant, integration_id, 100), {"k\x00": "v"})]
        unencodable = [_with_labels(record(tenant, integration_id, 101), {"\ud800": "v"})]
        requests = [*good[:5], refused_by_database, unencodable, *good[5:]]
        answers = await asyncio.gather(
            *(writer.write(records) for records in requests), return_exceptions=True
        )
    finally:
        loops.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loops
        await db.dispose()
    assert isinstance(answers[5], UnstorableAlert)
    assert isinstance(answers[6], UnstorableAlert)
    stored_answers = answers[:5] + answers[7:]
    assert all(isinstance(a, list) and len(a) == 1 for a in stored_answers), stored_answers
    async with await psycopg.AsyncConnection.connect(
        libpq(ingest.svc.settings.database_url), autocommit=True
    ) as conn:
        rows = await (
            await conn.execute("SELECT delivery_key FROM ingest.alert_events ORDER BY 1")
        ).fetchall()
        events = await (
            await conn.execute("SELECT count(*) FROM ingest.outbox WHERE type = 'alert.received'")
        ).fetchone()
    assert [r[0] for r in rows] == sorted(f"key-{n}" for n in range(10))
    assert events is not None and events[0] == 10
