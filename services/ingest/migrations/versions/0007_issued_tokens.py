"""Issued tokens (issue 18): the metadata of every token IssueToken signed, for listing and
revocation. Idempotent, because the initial migration creates the tables from the current
models on a fresh database.
"""

from alembic import op
from sqlalchemy import text

from services.ingest.models import SCHEMA, issued_tokens
from triage.runtime import tenant_rls_sql

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    """Create ``issued_tokens`` (tenant-confined; admin tokens are seen by the owner only)."""
    bind = op.get_bind()
    issued_tokens.create(bind, checkfirst=True)
    has_policy = bind.execute(
        text(
            "SELECT 1 FROM pg_policies WHERE schemaname = :s "
            "AND tablename = 'issued_tokens' AND policyname = 'tenant_isolation'"
        ),
        {"s": SCHEMA},
    ).first()
    if has_policy is None:
        for statement in tenant_rls_sql(f"{SCHEMA}.issued_tokens"):
            op.execute(statement)


def downgrade() -> None:
    """Drop ``issued_tokens``."""
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.issued_tokens")
