"""The series log keeps what can still arrive late, and drops what cannot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from services.tickets.domain.alerts import AlertKind
from services.tickets.models import series_log
from services.tickets.workers.series_log_retention import purge_series_log
from tests.integration.tickets.harness import Harness

pytestmark = pytest.mark.integration


async def test_entries_older_than_the_retention_go_and_recent_ones_stay(
    harness: Harness,
) -> None:
    tenant = str(uuid.uuid4())
    now = datetime.now(UTC)
    ages = {"old-1": 30, "old-2": 9, "recent": 1}
    async with harness.db.system_transaction() as session:
        for n, (alert, days) in enumerate(ages.items()):
            await session.execute(
                insert(series_log).values(
                    tenant_id=tenant,
                    series_key="s1",
                    alert_id=alert,
                    kind=int(AlertKind.TRIGGER),
                    occurred_at=now - timedelta(days=days),
                    sequence=n,
                )
            )
    assert await purge_series_log(harness.db, keep=timedelta(days=8), batch=1) == 2
    async with harness.db.system_transaction() as session:
        left = (await session.execute(select(series_log.c.alert_id))).scalars().all()
    assert left == ["recent"]
