"""The series log's age index as a BRIN index: the retention's range scan still finds old
entries, and an alert batch's insert no longer maintains a B-tree entry per row."""

from alembic import op

from services.tickets.models import SCHEMA

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    """Replace the B-tree ``series_log_by_time`` with a BRIN index of the same name (rows
    are inserted roughly in ``occurred_at`` order, so block ranges stay narrow)."""
    op.execute(f"DROP INDEX IF EXISTS {SCHEMA}.series_log_by_time")
    op.execute(
        f"CREATE INDEX series_log_by_time ON {SCHEMA}.series_log "
        "USING brin (occurred_at) WITH (autosummarize = on)"
    )
