"""Incidents (issue 19): incidents, their members and the tenants' storm settings."""

from alembic import op

from services.tickets.models import SCHEMA, incident_members, incident_settings, incidents
from triage.runtime import tenant_rls_sql

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    """Create the incident tables with row-level security (0001 already did on a fresh
    schema)."""
    for table in (incidents, incident_members, incident_settings):
        table.create(op.get_bind(), checkfirst=True)
        qualified = f"{SCHEMA}.{table.name}"
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {qualified}")
        for statement in tenant_rls_sql(qualified):
            op.execute(statement)
