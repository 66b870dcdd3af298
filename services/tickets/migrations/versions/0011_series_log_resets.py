"""A partial index of the series log's resets, so the newest reset of a series is found
without walking its triggers."""

from alembic import op

from services.tickets.models import SCHEMA

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    """Create ``series_log_resets`` (0001 already did on a fresh schema)."""
    op.execute(
        f"CREATE INDEX IF NOT EXISTS series_log_resets ON {SCHEMA}.series_log "
        "(tenant_id, series_key, occurred_at, sequence) WHERE kind = 2"
    )
