"""SQLAlchemy Core tables of the ``rules`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from triage.runtime import inbox_table, outbox_pending_table, outbox_table, requests_table

SCHEMA = "rules"
metadata = MetaData(schema=SCHEMA)

#: The tenant's time zone, default actions and the rule-set version every change bumps.
settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("time_zone", Text, nullable=False, server_default="UTC"),
    Column("time_zone_changed_at", DateTime(timezone=True)),
    Column("default_actions", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("rule_set_version", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

#: Rules; conditions and actions hold the proto messages as JSON (proto field names).
rules = Table(
    "rules",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("position", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("scope_integration_ids", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("conditions", JSONB, nullable=False),
    Column("actions", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("rule_set_version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "name", name="rules_tenant_name"),
    Index("rules_tenant_position", "tenant_id", "position"),
)

windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("starts_at", DateTime(timezone=True)),
    Column("ends_at", DateTime(timezone=True)),
    Column("rrule", Text),
    Column("duration_seconds", Double),
    Column("time_zone", Text, nullable=False, server_default=""),
    Column("scope", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("end_override_at", DateTime(timezone=True)),
    Column("ended_early_at", DateTime(timezone=True)),
    Column("extended_until", DateTime(timezone=True)),
    Column("cancelled_from", DateTime(timezone=True)),
    Column("creator", Text, nullable=False, server_default=""),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("rule_set_version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("windows_tenant", "tenant_id", "created_at"),
)

#: Correlation rules (docs/CORRELATION.md); conditions hold the proto messages as JSON.
correlation_rules = Table(
    "correlation_rules",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("position", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("conditions", JSONB, nullable=False),
    Column("group_by", JSONB, nullable=False),
    Column("window_seconds", Integer, nullable=False),
    Column("primary_conditions", JSONB),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("rule_set_version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("tenant_id", "name", name="correlation_rules_tenant_name"),
    Index("correlation_rules_tenant_position", "tenant_id", "position"),
)

#: Firing-series projection: the latest trigger of each series and whether a window holds it.
series = Table(
    "series",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("series_key", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("last_alert_id", Text, nullable=False),
    Column("last_event_at", DateTime(timezone=True), nullable=False),
    Column("last_sequence", BigInteger, nullable=False, server_default="0"),
    Column("trigger_alert", LargeBinary),
    Column("suppressed_window_id", UUID(as_uuid=False)),
    Column("suppressed_until", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "series_held",
        "suppressed_until",
        postgresql_where=text("state = 'firing' AND suppressed_window_id IS NOT NULL"),
    ),
)

#: One row per alert decided on receipt: the stored history Simulate replays.
decisions = Table(
    "decisions",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("alert_id", Text, primary_key=True),
    Column("series_key", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("alert", LargeBinary, nullable=False),
    Column("kind", Text, nullable=False),
    Column("window_id", UUID(as_uuid=False)),
    Column("rule_ids", JSONB, nullable=False),
    Column("rule_set_version", BigInteger, nullable=False),
    Column("create_ticket", Boolean, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Index("decisions_tenant_time", "tenant_id", "occurred_at"),
)

outbox = outbox_table(metadata)
outbox_pending = outbox_pending_table(metadata)
inbox = inbox_table(metadata)
requests = requests_table(metadata)

TENANT_TABLES = (
    "tenant_settings",
    "rules",
    "maintenance_windows",
    "correlation_rules",
    "series",
    "decisions",
    "outbox",
    "inbox",
    "requests",
)
