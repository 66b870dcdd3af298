"""The series log by age, for its retention."""

from alembic import op

from services.tickets.models import SCHEMA

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    """Index ``series_log`` on ``occurred_at`` (0001 already did on a fresh schema)."""
    op.execute(
        f"CREATE INDEX IF NOT EXISTS series_log_by_time ON {SCHEMA}.series_log (occurred_at)"
    )
