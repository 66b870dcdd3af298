"""Tables of the ingest schema."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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

SCHEMA = "ingest"
metadata = MetaData(schema=SCHEMA)

tenants = Table(
    "tenants",
    metadata,
    # tenant_id == id, so row-level security treats the registry like any tenant-owned table.
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("time_zone", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("version", Integer, nullable=False, server_default="1"),
)

#: Metadata of every token IssueToken signed (never the token): who, what, until when, and
#: whether it was revoked. ``id`` is the token's ``jti``; admin tokens have no tenant.
issued_tokens = Table(
    "issued_tokens",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=True),
    Column("subject", Text, nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_by", Text, nullable=True),
    Index("issued_tokens_by_tenant", "tenant_id", "issued_at"),
)

integrations = Table(
    "integrations",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("provider", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="false"),
    Column("settings", JSONB, nullable=False, server_default="{}"),
    Column("secret", LargeBinary, nullable=False),
    Column("secret_created_at", DateTime(timezone=True), nullable=False),
    Column("previous_secret", LargeBinary),
    Column("previous_secret_expires_at", DateTime(timezone=True)),
    Column("api_secret", LargeBinary),
    # The provider's webhook signing secret (Huntress: Svix), sealed like the others.
    Column("signing_secret", LargeBinary),
    Column("last_received_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("deleted_at", DateTime(timezone=True)),
    # When the integration's "source silent" alert was raised; NULL while it is not silent.
    Column("silent_since", DateTime(timezone=True)),
    Index("integrations_by_tenant", "tenant_id", "created_at", "id"),
)

# One row per polled integration: when its next reconciliation cycle is due, who holds
# the current cycle (a lease, so replicas never run one integration's cycles at once),
# and what the last cycle found (docs/POLLING.md).
integration_polls = Table(
    "integration_polls",
    metadata,
    Column(
        "integration_id",
        UUID(as_uuid=False),
        ForeignKey(integrations.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("next_poll_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", Text),
    Column("claimed_until", DateTime(timezone=True)),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("last_started_at", DateTime(timezone=True)),
    Column("last_finished_at", DateTime(timezone=True)),
    Column("last_ok_at", DateTime(timezone=True)),
    Column("last_outcome", Text),
    Column("last_error", Text),
    Column("last_found", Integer, nullable=False, server_default="0"),
    Column("last_created", Integer, nullable=False, server_default="0"),
    Column("last_resolved", Integer, nullable=False, server_default="0"),
    # reconcile key -> ISO time of the first complete cycle that did not list it.
    Column("missing_since", JSONB, nullable=False, server_default="{}"),
    # reconcile key -> alert id of the triggers polling created and that are still open:
    # a late webhook for one of them is a duplicate, not a second alert.
    Column("polled_open", JSONB, nullable=False, server_default="{}"),
    Index("integration_polls_due", "next_poll_at"),
)

# One row per delivered body, however many alerts it carried (a Datto array of 700
# alerts used to store 700 copies of itself).
webhook_bodies = Table(
    "webhook_bodies",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("integration_id", UUID(as_uuid=False), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("content_type", Text),
    Column("raw_body", LargeBinary, nullable=False),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("integration_id", UUID(as_uuid=False), ForeignKey(integrations.c.id), nullable=False),
    Column("provider", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("series_key", Text, nullable=False),
    Column("delivery_key", Text, nullable=False),
    Column("source_event_id", Text),
    Column("source_ref", Text),
    Column("device_id", Text),
    Column("device_name", Text),
    Column("client_id", Text),
    Column("client_name", Text),
    Column("site_id", Text),
    Column("site_name", Text),
    Column("condition", Text, nullable=False),
    Column("severity", SmallInteger, nullable=False),
    Column("raw_severity", Text),
    Column("summary", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("labels", JSONB, nullable=False, server_default="{}"),
    Column("occurred_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("content_type", Text),
    # Rows stored before webhook_bodies hold their body here; newer rows point at theirs.
    Column("raw_body", LargeBinary),
    Column("body_id", UUID(as_uuid=False), ForeignKey(webhook_bodies.c.id)),
    Column("redelivery_count", Integer, nullable=False, server_default="0"),
    Column("suppressed", Boolean, nullable=False, server_default="false"),
    Column("suppression_window_id", Text),
    Column("reset_state", Text, nullable=False, server_default="not_requested"),
    Column("reset_ticket_id", Text),
    Column("reset_attempts", Integer, nullable=False, server_default="0"),
    Column("reset_last_attempt_at", DateTime(timezone=True)),
    Column("reset_next_attempt_at", DateTime(timezone=True)),
    Column("reset_last_outcome", Text),
    Column("reset_last_code", Integer),
    Column("reset_completed_at", DateTime(timezone=True)),
    UniqueConstraint("integration_id", "delivery_key", name="alert_events_delivery_key"),
    Index("alert_events_by_tenant_time", "tenant_id", "received_at", "id"),
    Index("alert_events_by_series", "tenant_id", "series_key", "received_at"),
    Index(
        "alert_events_pending_reset",
        "reset_next_attempt_at",
        postgresql_where=text("reset_state = 'pending'"),
    ),
)

#: Tenant deletions (offboarding): which service is deleting, what each deleted. Keyed by the
#: deleted tenant's id but without a ``tenant_id`` column or row security: the record
#: outlives the tenant (a status query after the end), holds no name and no data.
tenant_deletions = Table(
    "tenant_deletions",
    metadata,
    Column("deleted_tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("current_service", Text, nullable=True),
    Column("rows_deleted", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True), nullable=True),
)

#: Integrations of deleted tenants (offboarding): the id of each, its tenant and when, so a
#: webhook to one is answered 410 once its row is gone. No tenant_id column, no secrets, no
#: row security: like ``tenant_deletions`` it outlives the tenant and is never its data.
deleted_integrations = Table(
    "deleted_integrations",
    metadata,
    Column("integration_id", UUID(as_uuid=False), primary_key=True),
    Column("deleted_tenant_id", UUID(as_uuid=False), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
outbox_pending = outbox_pending_table(metadata)
inbox = inbox_table(metadata)
requests = requests_table(metadata)

TENANT_OWNED = (
    "tenants",
    "issued_tokens",
    "integrations",
    "integration_polls",
    "webhook_bodies",
    "alert_events",
    "outbox",
    "inbox",
    "requests",
)
