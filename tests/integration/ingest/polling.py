"""Helpers of the polling tests: drive cycles, read what ingest stored."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.ledger import libpq
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import resources_pb2 as pb

DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class PollRow:
    """An integration's ``integration_polls`` row, as the tests read it."""

    next_poll_at: datetime
    last_finished_at: datetime | None
    last_outcome: str | None
    failures: int
    last_found: int
    last_created: int
    last_resolved: int
    missing_since: dict[str, Any]


async def poll_row(db_url: str, integration_id: str) -> PollRow | None:
    """The poll row of an integration (None when it is not polled)."""
    async with await psycopg.AsyncConnection.connect(libpq(db_url)) as conn:
        cursor = await conn.execute(
            "SELECT next_poll_at, last_finished_at, last_outcome, failures, last_found,"
            " last_created, last_resolved, missing_since FROM ingest.integration_polls"
            " WHERE integration_id = %s",
            (integration_id,),
        )
        row = await cursor.fetchone()
    return PollRow(*row) if row is not None else None


async def execute(db_url: str, sql: str, *params: Any) -> None:
    """Run one statement as the owner."""
    async with await psycopg.AsyncConnection.connect(libpq(db_url), autocommit=True) as conn:
        await conn.execute(sql, params)


async def run_cycle(db_url: str, integration_id: str) -> PollRow:
    """Make the integration's next cycle due now and wait until a cycle finished."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    before = await poll_row(db_url, integration_id)
    while before is None:
        assert time.monotonic() < deadline, "the integration never got a poll row"
        await asyncio.sleep(0.05)
        before = await poll_row(db_url, integration_id)
    await execute(
        db_url,
        "UPDATE ingest.integration_polls SET next_poll_at = now() WHERE integration_id = %s",
        integration_id,
    )
    while True:
        row = await poll_row(db_url, integration_id)
        if row is not None and row.last_finished_at != before.last_finished_at:
            return row
        assert time.monotonic() < deadline, "no poll cycle finished in time"
        await asyncio.sleep(0.05)


async def first_cycle(db_url: str, integration_id: str) -> PollRow:
    """Wait for the integration's first cycle (due as soon as it is polled)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        row = await poll_row(db_url, integration_id)
        if row is not None and row.last_finished_at is not None:
            return row
        assert time.monotonic() < deadline, "the first poll cycle did not run"
        await asyncio.sleep(0.05)


async def alert_events(ingest: Ingest, integration_id: str) -> list[pb.AlertEvent]:
    """Every stored alert event of the integration, oldest first."""
    reply = await ingest.stub.ListAlertEvents(
        api.ListAlertEventsRequest(integration_id=integration_id, page_size=1000),
        metadata=ingest.md("ingest:read"),
    )
    return sorted(reply.alert_events, key=lambda e: (e.received_time.ToDatetime(), e.alert_id))


async def wait_for_events(ingest: Ingest, integration_id: str, count: int) -> list[pb.AlertEvent]:
    """Poll until the integration has at least ``count`` stored events."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        events = await alert_events(ingest, integration_id)
        if len(events) >= count:
            return events
        assert time.monotonic() < deadline, f"expected {count} events, have {len(events)}"
        await asyncio.sleep(0.05)


def api_settings(base_url: str, client_id: str, secret: str, **extra: Any) -> dict[str, Any]:
    """Integration settings with provider API credentials (polling on by default)."""
    return {
        "api": pb.ProviderApi(base_url=base_url, client_id=client_id, client_secret=secret),
        **extra,
    }
