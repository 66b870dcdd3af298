"""Drop ``alert_events_by_integration_series`` (issue 13: CPU per alert).

Only polling read it, and every stored alert paid for its entry. An integration's series
keys all begin with ``{integration id}:``, so polling reads them as a key range of the
tenant's ``alert_events_by_series`` instead (services/ingest/store/polls.py).
``IF EXISTS``: migration 0006 creates the index on a database 0001 built without it.
"""

from alembic import op

from services.ingest.models import SCHEMA

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    """Drop the index."""
    op.execute(f"DROP INDEX IF EXISTS {SCHEMA}.alert_events_by_integration_series")


def downgrade() -> None:
    """Create the index again."""
    op.execute(
        "CREATE INDEX IF NOT EXISTS alert_events_by_integration_series "
        f"ON {SCHEMA}.alert_events (integration_id, series_key, received_at)"
    )
