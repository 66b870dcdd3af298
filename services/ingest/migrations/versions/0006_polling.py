"""Reconciliation polling and silent sources (issue 17).

``integration_polls`` (one row per polled integration: due time, lease, last status),
``integrations.silent_since`` and ``signing_secret`` (Huntress Svix), and an index to
read an integration's series. Idempotent, because the initial migration creates the
tables from the current models on a fresh database.
"""

from alembic import op
from sqlalchemy import text

from services.ingest.models import SCHEMA, integration_polls
from triage.runtime import tenant_rls_sql

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    """Create ``integration_polls`` (tenant-confined), add ``silent_since`` and the index."""
    bind = op.get_bind()
    integration_polls.create(bind, checkfirst=True)
    has_policy = bind.execute(
        text(
            "SELECT 1 FROM pg_policies WHERE schemaname = :s "
            "AND tablename = 'integration_polls' AND policyname = 'tenant_isolation'"
        ),
        {"s": SCHEMA},
    ).first()
    if has_policy is None:
        for statement in tenant_rls_sql(f"{SCHEMA}.integration_polls"):
            op.execute(statement)
    op.execute(
        f"ALTER TABLE {SCHEMA}.integrations ADD COLUMN IF NOT EXISTS silent_since timestamptz"
    )
    op.execute(f"ALTER TABLE {SCHEMA}.integrations ADD COLUMN IF NOT EXISTS signing_secret bytea")
    op.execute(
        "CREATE INDEX IF NOT EXISTS alert_events_by_integration_series "
        f"ON {SCHEMA}.alert_events (integration_id, series_key, received_at)"
    )
