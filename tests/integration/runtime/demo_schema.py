"""A tiny service schema that exercises the shared runtime in integration tests."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

from triage.runtime.idempotency import requests_table
from triage.runtime.outbox import inbox_table, outbox_pending_table, outbox_table

SCHEMA = "demo"
metadata = MetaData(schema=SCHEMA)

notes = Table(
    "notes",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)
effects = Table(
    "effects",
    metadata,
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("applied_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)
outbox = outbox_table(metadata)
outbox_pending = outbox_pending_table(metadata)
inbox = inbox_table(metadata)
requests = requests_table(metadata)
