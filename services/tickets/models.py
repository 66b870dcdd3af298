"""SQLAlchemy Core tables of the ``tickets`` schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from triage.runtime import inbox_table, outbox_pending_table, outbox_table, requests_table

SCHEMA = "tickets"
metadata = MetaData(schema=SCHEMA)


settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("closed_statuses", ARRAY(SmallInteger), nullable=False),
    Column("pausing_statuses", ARRAY(SmallInteger), nullable=False),
    Column("occurrence_comment_interval_seconds", Double, nullable=False),
    Column("reopen_within_seconds", Double, nullable=False),
    Column("flap_damping", Boolean, nullable=False, server_default="true"),
    Column("flap_changes", Integer, nullable=False, server_default="5"),
    Column("flap_window_seconds", Double, nullable=False, server_default="1800"),
    # Storm protection (issue 19; defaults: domain.incidents.StormSettings).
    Column("storm_protection", Boolean, nullable=False, server_default="true"),
    Column("storm_tickets", Integer, nullable=False, server_default="20"),
    Column("storm_window_seconds", Double, nullable=False, server_default="600"),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

counters = Table(
    "ticket_counters",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("last_number", BigInteger, nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("client_id", Text, nullable=False, server_default=""),
    Column("client_name", Text, nullable=False, server_default=""),
    Column("site_id", Text, nullable=False, server_default=""),
    Column("site_name", Text, nullable=False, server_default=""),
    Column("device_id", Text, nullable=False, server_default=""),
    Column("device_name", Text, nullable=False, server_default=""),
    Column("priority", SmallInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("queue", Text, nullable=False, server_default=""),
    Column("assignee", Text, nullable=False, server_default=""),
    Column("source", SmallInteger, nullable=False),
    Column("severity", SmallInteger, nullable=False, server_default="0"),
    Column("condition", Text, nullable=False, server_default=""),
    Column("dedup_key", Text),
    Column("occurrence_count", BigInteger, nullable=False, server_default="0"),
    Column("first_occurrence_at", DateTime(timezone=True)),
    Column("last_occurrence_at", DateTime(timezone=True)),
    Column("linked_series_keys", ARRAY(Text), nullable=False, server_default="{}"),
    Column("rule_id", Text, nullable=False, server_default=""),
    Column("close_on_reset", Boolean, nullable=False, server_default="false"),
    Column("reset_in_rmm_on_close", Boolean, nullable=False, server_default="false"),
    Column("notification_channel_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("human_touched", Boolean, nullable=False, server_default="false"),
    Column("close_reason", SmallInteger, nullable=False, server_default="0"),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("occurrence_comment_at", DateTime(timezone=True)),
    Column("uncommented_occurrences", Integer, nullable=False, server_default="0"),
    Column("flapping_since", DateTime(timezone=True)),
    UniqueConstraint("tenant_id", "number", name="tickets_tenant_number"),
    # One open ticket per problem is a database fact, not a check-then-insert.
    Index(
        "tickets_one_open_per_key",
        "tenant_id",
        "dedup_key",
        unique=True,
        postgresql_where=text("closed_at IS NULL AND dedup_key IS NOT NULL"),
    ),
    Index("tickets_newest", "tenant_id", text("created_at DESC"), text("id DESC")),
    Index(
        "tickets_closed_by_key",
        "tenant_id",
        "dedup_key",
        text("closed_at DESC"),
        postgresql_where=text("closed_at IS NOT NULL AND dedup_key IS NOT NULL"),
    ),
    Index("tickets_series", "linked_series_keys", postgresql_using="gin"),
    # The quiet-close sweep looks only at open flapping tickets.
    Index(
        "tickets_flapping",
        "flapping_since",
        postgresql_where=text("flapping_since IS NOT NULL AND closed_at IS NULL"),
    ),
)

comments = Table(
    "comments",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("ticket_id", UUID(as_uuid=False), nullable=False),
    Column("body", Text, nullable=False),
    Column("visibility", SmallInteger, nullable=False),
    Column("author_kind", SmallInteger, nullable=False),
    Column("author", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("comments_by_ticket", "tenant_id", "ticket_id", "seq"),
)

time_entries = Table(
    "time_entries",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("ticket_id", UUID(as_uuid=False), nullable=False),
    Column("duration_seconds", Double, nullable=False),
    Column("start_at", DateTime(timezone=True)),
    Column("note", Text, nullable=False, server_default=""),
    Column("billable", Boolean, nullable=False, server_default="false"),
    Column("author", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("time_entries_by_ticket", "tenant_id", "ticket_id", "seq"),
)

history = Table(
    "history",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("ticket_id", UUID(as_uuid=False), nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("cause", SmallInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("changes", JSONB, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("history_by_ticket", "tenant_id", "ticket_id", "seq"),
)

tombstones = Table(
    "reset_tombstones",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("series_key", Text, primary_key=True),
    Column("reset_at", DateTime(timezone=True), nullable=False),
    Column("reset_sequence", BigInteger, nullable=False, server_default="0"),
    Column("alert_id", Text, nullable=False, server_default=""),
)

trigger_log = Table(
    "trigger_log",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("dedup_key", Text, primary_key=True),
    Column("alert_id", Text, primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)

#: Every trigger and reset of a series that reached the tickets service, with the ticket it
#: counted on or acted on, so an event that arrives out of occurrence order can be applied
#: as if it had arrived in order (see services/tickets/service/late_triggers.py and late_resets.py).
series_log = Table(
    "series_log",
    metadata,
    # The key orders a series' events by time (the late paths' reads); an alert's own
    # values repeat when it is logged again, so the key still catches duplicates.
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("series_key", Text, primary_key=True),
    Column("occurred_at", DateTime(timezone=True), primary_key=True),
    Column("sequence", BigInteger, primary_key=True),
    Column("alert_id", Text, primary_key=True),
    Column("kind", SmallInteger, nullable=False),
    Column("ticket_id", UUID(as_uuid=False)),
    Column("close_on_reset", Boolean),
    Column("reset_in_rmm_on_close", Boolean),
    Column("origin", Text, nullable=False, server_default=""),
    Index("series_log_by_ticket", "tenant_id", "ticket_id"),
    # A series' resets in order (the batch's latest positions, the late paths' nearest
    # reset) without walking its triggers; resets are a small share of the rows.
    Index(
        "series_log_resets",
        "tenant_id",
        "series_key",
        "occurred_at",
        "sequence",
        postgresql_where=text("kind = 2"),
    ),
    # Retention deletes by age (services/tickets/workers/series_log_retention.py); BRIN,
    # as rows come roughly in time order and a B-tree entry per alert costs the hot path.
    Index(
        "series_log_by_time",
        "occurred_at",
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    ),
)

# Incidents (issue 19): one parent ticket for a correlation group or a client's storm.
incidents = Table(
    "incidents",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("group_key", Text, nullable=False),
    Column("rule_id", Text, nullable=False, server_default=""),
    Column("rule_name", Text, nullable=False, server_default=""),
    Column("storm", Boolean, nullable=False, server_default="false"),
    Column("client_id", Text, nullable=False, server_default=""),
    Column("client_name", Text, nullable=False, server_default=""),
    Column("parent_ticket_id", UUID(as_uuid=False), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("window_seconds", Double, nullable=False),
    Column("primary_series_key", Text, nullable=False, server_default=""),
    Column("severity", SmallInteger, nullable=False, server_default="0"),
    Column("opened_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("closed_at", DateTime(timezone=True)),
    Column("last_joined_at", DateTime(timezone=True)),
    Column("storm_tickets_before", Integer, nullable=False, server_default="0"),
    Index("incidents_by_group", "tenant_id", "group_key", "started_at"),
    Index("incidents_by_parent", "tenant_id", "parent_ticket_id"),
    # One open storm per client: replicas deciding at once meet here.
    Index(
        "incidents_open_storm",
        "tenant_id",
        "group_key",
        unique=True,
        postgresql_where=text("storm AND closed_at IS NULL"),
    ),
)

incident_members = Table(
    "incident_members",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("incident_id", UUID(as_uuid=False), primary_key=True),
    Column("series_key", Text, primary_key=True),
    Column("dedup_key", Text, nullable=False),
    Column("is_primary", Boolean, nullable=False, server_default="false"),
    Column("occurrences", Integer, nullable=False, server_default="1"),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    Column("reset_at", DateTime(timezone=True)),
    Column("merged_ticket_id", UUID(as_uuid=False)),
    Column("device_name", Text, nullable=False, server_default=""),
    Column("condition", Text, nullable=False, server_default=""),
    Column("severity", SmallInteger, nullable=False, server_default="0"),
    Column("joined_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Taken out by a person: kept for the timeline; its later alerts are not correlated.
    Column("moved_at", DateTime(timezone=True)),
    Index("incident_members_by_series", "tenant_id", "series_key"),
)

outbox = outbox_table(metadata)
outbox_pending = outbox_pending_table(metadata)
inbox = inbox_table(metadata)
requests = requests_table(metadata)

#: Every table that belongs to a tenant (all of them carry RLS).
TENANT_TABLES = (
    "tenant_settings",
    "ticket_counters",
    "tickets",
    "comments",
    "time_entries",
    "history",
    "reset_tombstones",
    "trigger_log",
    "series_log",
    "incidents",
    "incident_members",
    "outbox",
    "inbox",
    "requests",
)
