"""Correlation rules: per tenant, ordered, grouping alerts into incidents."""

from alembic import op

from services.rules.models import SCHEMA, correlation_rules
from triage.runtime import tenant_rls_sql

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Create ``correlation_rules`` with row-level security (0001 already did on a fresh
    schema)."""
    correlation_rules.create(op.get_bind(), checkfirst=True)
    qualified = f"{SCHEMA}.correlation_rules"
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {qualified}")
    for statement in tenant_rls_sql(qualified):
        op.execute(statement)
