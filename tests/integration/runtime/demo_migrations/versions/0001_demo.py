"""Demo schema for the runtime tests."""

from alembic import op

from tests.integration.runtime.demo_schema import metadata
from triage.runtime.migrations import tenant_rls_sql

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create the demo tables with row-level security."""
    metadata.create_all(op.get_bind())
    for table in ("notes", "effects", "outbox", "inbox"):
        for statement in tenant_rls_sql(f"demo.{table}"):
            op.execute(statement)
