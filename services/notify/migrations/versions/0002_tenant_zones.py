"""Tenant zones, so quiet hours without a zone follow the tenant's."""

import sqlalchemy as sa
from alembic import op

from services.notify.models import SCHEMA, tenant_zones
from triage.runtime import tenant_rls_sql

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Create ``tenant_zones`` with row-level security (0001 already made it on new DBs)."""
    bind = op.get_bind()
    if sa.inspect(bind).has_table("tenant_zones", schema=SCHEMA):
        return
    tenant_zones.create(bind)
    for statement in tenant_rls_sql(f"{SCHEMA}.tenant_zones"):
        op.execute(statement)
