"""The demo service's answered requests, for ``request_id`` idempotency."""

from alembic import op

from tests.integration.runtime.demo_schema import SCHEMA, requests
from triage.runtime.migrations import tenant_rls_sql

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Create ``requests`` (0001 already did on a new database) with row-level security."""
    requests.create(op.get_bind(), checkfirst=True)
    for statement in tenant_rls_sql(f"{SCHEMA}.requests"):
        op.execute(statement)
