"""SLA schema: calendars, holidays, policies, ticket projection, clocks, timers, audit."""

from alembic import op

from services.sla.models import SCHEMA, TENANT_TABLES, metadata
from triage.runtime import tenant_rls_sql

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create every table with row-level security on each tenant-owned one.

    The owner is not bound by RLS, so the scheduler claims timers across tenants through
    ``Database.system_transaction()``.
    """
    metadata.create_all(op.get_bind())
    for table in TENANT_TABLES:
        for statement in tenant_rls_sql(f"{SCHEMA}.{table}"):
            op.execute(statement)
