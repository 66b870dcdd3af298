"""Each webhook body stored once: ``webhook_bodies``, and ``alert_events.body_id``.

Expand only: rows stored before keep their ``raw_body`` (now nullable), and reads take
``coalesce(alert_events.raw_body, webhook_bodies.raw_body)``. Idempotent, because the
initial migration creates the tables from the current models on a fresh database.
"""

from alembic import op
from sqlalchemy import text

from services.ingest.models import SCHEMA, webhook_bodies
from triage.runtime import tenant_rls_sql

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Create ``webhook_bodies`` (tenant-confined) and point alert events at it."""
    bind = op.get_bind()
    webhook_bodies.create(bind, checkfirst=True)
    has_policy = bind.execute(
        text(
            "SELECT 1 FROM pg_policies WHERE schemaname = :s "
            "AND tablename = 'webhook_bodies' AND policyname = 'tenant_isolation'"
        ),
        {"s": SCHEMA},
    ).first()
    if has_policy is None:
        for statement in tenant_rls_sql(f"{SCHEMA}.webhook_bodies"):
            op.execute(statement)
    op.execute(
        f"ALTER TABLE {SCHEMA}.alert_events ADD COLUMN IF NOT EXISTS body_id uuid "
        f"REFERENCES {SCHEMA}.webhook_bodies (id)"
    )
    op.execute(f"ALTER TABLE {SCHEMA}.alert_events ALTER COLUMN raw_body DROP NOT NULL")
