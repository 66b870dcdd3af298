"""Incidents (issue 19): incidents and their members; the tenants' storm protection."""

from alembic import op

from services.tickets.models import SCHEMA, incident_members, incidents
from triage.runtime import tenant_rls_sql

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    """Create the incident tables with row-level security and add the storm settings
    (0001 already did on a fresh schema)."""
    for table in (incidents, incident_members):
        table.create(op.get_bind(), checkfirst=True)
        qualified = f"{SCHEMA}.{table.name}"
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {qualified}")
        for statement in tenant_rls_sql(qualified):
            op.execute(statement)
    settings = f"{SCHEMA}.tenant_settings"
    for column in (
        "storm_protection boolean NOT NULL DEFAULT true",
        "storm_tickets integer NOT NULL DEFAULT 20",
        "storm_window_seconds double precision NOT NULL DEFAULT 600",
    ):
        op.execute(f"ALTER TABLE {settings} ADD COLUMN IF NOT EXISTS {column}")
