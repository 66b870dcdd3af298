"""Initial notify schema: channels, state, policies, deliveries, attempts, outbox, inbox."""

from alembic import op

from services.notify.models import SCHEMA, TENANT_OWNED, metadata
from triage.runtime import tenant_rls_sql

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create every table with row-level security."""
    metadata.create_all(op.get_bind())
    for table in TENANT_OWNED:
        for statement in tenant_rls_sql(f"{SCHEMA}.{table}"):
            op.execute(statement)
