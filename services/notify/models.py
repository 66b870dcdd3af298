"""Tables of the notify schema."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
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

SCHEMA = "notify"
metadata = MetaData(schema=SCHEMA)

channels = Table(
    "channels",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    # The kind's proto config as JSON with every secret field cleared.
    Column("config", JSONB, nullable=False),
    # AES-GCM sealed JSON of the secret fields (SecretBox), bound to tenant and channel id.
    Column("secrets", LargeBinary, nullable=False),
    Column("destination", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="false"),
    # One of the tenant's default channels (what SLA notify actions deliver to).
    Column("is_default", Boolean, nullable=False, server_default="false"),
    Column("quiet_hours", JSONB),
    Column("rate_limit", JSONB),
    Column("digest", JSONB),
    Column("template", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("version", Integer, nullable=False, server_default="1"),
    UniqueConstraint("tenant_id", "display_name", name="channels_name_per_tenant"),
    Index("channels_by_tenant", "tenant_id", "created_at", "id"),
)

channel_state = Table(
    "channel_state",
    metadata,
    Column(
        "channel_id",
        UUID(as_uuid=False),
        ForeignKey(channels.c.id, ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("breaker_state", Text, nullable=False, server_default="closed"),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("opened_at", DateTime(timezone=True)),
    Column("probe_started_at", DateTime(timezone=True)),
    Column("tokens", Float),
    Column("tokens_at", DateTime(timezone=True)),
    Column("digest_flush_at", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_failure_at", DateTime(timezone=True)),
)

policies = Table(
    "policies",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default="false"),
    Column("event_types", ARRAY(Text), nullable=False),
    Column("filter", JSONB, nullable=False, server_default="{}"),
    Column("channel_ids", ARRAY(UUID(as_uuid=False)), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("version", Integer, nullable=False, server_default="1"),
    Index("policies_by_tenant", "tenant_id", "created_at", "id"),
    Index("policies_by_channel", "channel_ids", postgresql_using="gin"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("channel_id", UUID(as_uuid=False), nullable=False),
    Column("channel_kind", Text, nullable=False),
    Column("destination", Text, nullable=False),
    Column("policy_id", UUID(as_uuid=False)),
    Column("rule_id", Text),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("ticket_id", Text),
    Column("alert_id", Text),
    Column("subject", Text, nullable=False),
    # The channel-independent NotificationMessage as JSON.
    Column("message", JSONB, nullable=False),
    Column("critical", Boolean, nullable=False, server_default="false"),
    Column("status", Text, nullable=False),
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("hold_until", DateTime(timezone=True)),
    Column("digest_hold", Boolean, nullable=False, server_default="false"),
    Column("digest_delivery_id", UUID(as_uuid=False)),
    Column("lease_token", UUID(as_uuid=False)),
    Column("lease_until", DateTime(timezone=True)),
    Column("dead_reason", Text),
    # Retries give up once this is older than the maximum age; RetryDelivery resets it.
    Column("age_from", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    UniqueConstraint("idempotency_key", name="deliveries_idempotency_key"),
    Index("deliveries_by_tenant_time", "tenant_id", "created_at", "id"),
    Index(
        "deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status IN ('queued', 'failed')"),
    ),
    Index("deliveries_leased", "lease_until", postgresql_where=text("status = 'sending'")),
    Index(
        "deliveries_digest_held",
        "channel_id",
        postgresql_where=text("digest_hold AND status = 'queued'"),
    ),
    Index("deliveries_by_channel_time", "channel_id", "created_at"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "delivery_id",
        UUID(as_uuid=False),
        ForeignKey(deliveries.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    Column("tenant_id", UUID(as_uuid=False), nullable=False),
    Column("number", SmallInteger, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("latency_seconds", Float, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("error_class", Text),
    Column("error_message", Text),
    Column("response_code", Integer),
    Column("provider_request_id", Text),
    Column("retry_after_seconds", Float),
    UniqueConstraint("delivery_id", "number", name="attempts_number"),
)

outbox = outbox_table(metadata)
outbox_pending = outbox_pending_table(metadata)
inbox = inbox_table(metadata)
requests = requests_table(metadata)

#: Each tenant's IANA zone (from ``tenant.changed``): quiet hours without a zone use it.
tenant_zones = Table(
    "tenant_zones",
    metadata,
    Column("tenant_id", UUID(as_uuid=False), primary_key=True),
    Column("time_zone", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

TENANT_OWNED = (
    "tenant_zones",
    "channels",
    "channel_state",
    "policies",
    "deliveries",
    "attempts",
    "outbox",
    "inbox",
    "requests",
)
