"""SQLAlchemy Core tables of the ``sla`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from triage.runtime import inbox_table, outbox_pending_table, outbox_table, requests_table

SCHEMA = "sla"
metadata = MetaData(schema=SCHEMA)

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("time_zone", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

calendars = Table(
    "calendars",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("always_open", Boolean, nullable=False, server_default="false"),
    Column("shifts", JSONB, nullable=False),
    Column("holiday_sets", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "display_name", name="calendars_tenant_name"),
    Index("calendars_page", "tenant_id", "created_at", "id"),
)

holidays = Table(
    "holidays",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column(
        "calendar_id",
        UUID(as_uuid=False),
        ForeignKey(f"{SCHEMA}.calendars.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("display_name", Text, nullable=False),
    Column("day", Date),
    Column("yearly_month", SmallInteger),
    Column("yearly_day", SmallInteger),
    Column("closed_start", Text),
    Column("closed_end", Text),
    Index("holidays_calendar", "tenant_id", "calendar_id", "seq"),
)

policies = Table(
    "policies",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("scope_kind", SmallInteger, nullable=False),
    Column("client_id", Text, nullable=False, server_default=""),
    Column("queue", Text, nullable=False, server_default=""),
    Column("calendar_id", UUID(as_uuid=False), ForeignKey(f"{SCHEMA}.calendars.id")),
    Column("spec", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Precedence needs one policy per scope: a fact of the schema, not a check-then-insert.
    Index(
        "policies_one_default",
        "tenant_id",
        unique=True,
        postgresql_where=text("scope_kind = 1"),
    ),
    Index(
        "policies_one_per_client",
        "tenant_id",
        "client_id",
        unique=True,
        postgresql_where=text("scope_kind = 2"),
    ),
    Index(
        "policies_one_per_queue",
        "tenant_id",
        "queue",
        unique=True,
        postgresql_where=text("scope_kind = 3"),
    ),
    Index("policies_page", "tenant_id", "created_at", "id"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("ticket_id", UUID(as_uuid=False), primary_key=True),
    Column("number", BigInteger, nullable=False, server_default="0"),
    Column("title", Text, nullable=False, server_default=""),
    Column("priority", SmallInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("client_id", Text, nullable=False, server_default=""),
    Column("client_name", Text, nullable=False, server_default=""),
    Column("queue", Text, nullable=False, server_default=""),
    Column("assignee", Text, nullable=False, server_default=""),
    Column("closed", Boolean, nullable=False, server_default="false"),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("ticket_updated_at", DateTime(timezone=True), nullable=False),
    Column("first_response_at", DateTime(timezone=True)),
    Column("policy_id", Text, nullable=False, server_default=""),
    Column("policy_version", BigInteger, nullable=False, server_default="0"),
    Column("calendar_id", Text, nullable=False, server_default=""),
    Column("calendar_version", BigInteger, nullable=False, server_default="0"),
    Column("policy_snapshot", JSONB, nullable=False),
    Column("calendar_snapshot", JSONB, nullable=False),
)

clocks = Table(
    "clocks",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("ticket_id", UUID(as_uuid=False), primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("due_at", DateTime(timezone=True)),
    Column("breached_at", DateTime(timezone=True)),
    Column("breach_due_at", DateTime(timezone=True)),
    Column("met_at", DateTime(timezone=True)),
    Column("fence", BigInteger, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "clocks_breaches",
        "tenant_id",
        text("breached_at DESC"),
        "ticket_id",
        "kind",
        postgresql_where=text("breached_at IS NOT NULL"),
    ),
)

timers = Table(
    "timers",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("ticket_id", UUID(as_uuid=False), primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("percent", SmallInteger, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("fence", BigInteger, nullable=False),
    Index("timers_due", "due_at"),
)

audit = Table(
    "audit",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("ticket_id", UUID(as_uuid=False), nullable=False),
    Column("target_kind", Text, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("cause", Text, nullable=False),
    Column("cause_event_id", Text, nullable=False, server_default=""),
    Column("before_state", Text),
    Column("after_state", Text),
    Column("before_due_at", DateTime(timezone=True)),
    Column("after_due_at", DateTime(timezone=True)),
    Column("percent", SmallInteger, nullable=False, server_default="0"),
    Column("late", Boolean, nullable=False, server_default="false"),
    Column("event_at", DateTime(timezone=True), nullable=False),
    Index("audit_ticket", "tenant_id", "ticket_id", "seq"),
)

outbox = outbox_table(metadata)
outbox_pending = outbox_pending_table(metadata)
inbox = inbox_table(metadata)
requests = requests_table(metadata)

TENANT_TABLES = (
    "tenants",
    "calendars",
    "holidays",
    "policies",
    "tickets",
    "clocks",
    "timers",
    "audit",
    "outbox",
    "inbox",
    "requests",
)
