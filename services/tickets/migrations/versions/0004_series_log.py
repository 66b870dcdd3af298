"""The series log: each trigger and reset with its ticket, for out-of-order arrivals."""

from alembic import op

from services.tickets.models import SCHEMA, series_log
from triage.runtime import tenant_rls_sql

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Create ``series_log`` with row-level security (0001 already did on a fresh schema)."""
    series_log.create(op.get_bind(), checkfirst=True)
    qualified = f"{SCHEMA}.series_log"
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {qualified}")
    for statement in tenant_rls_sql(qualified):
        op.execute(statement)
