"""Tenant deletions (issue 18, offboarding): the progress of each tenant's deletion across
the mesh. Owner-only (no row security: the record outlives its tenant). Idempotent, because
the initial migration creates the tables from the current models on a fresh database.
"""

from alembic import op

from services.ingest.models import SCHEMA, tenant_deletions

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    """Create ``tenant_deletions``."""
    tenant_deletions.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    """Drop ``tenant_deletions``."""
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.tenant_deletions")
