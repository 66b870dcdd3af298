"""Offboarding (issue 18): the integration tombstones and the webhook batch's admission.

``deleted_integrations`` maps each integration of a deleted tenant to that tenant, so its
webhooks are answered 410 once the integration row is gone. ``admit_tenants`` is the group
commit's admission check (:mod:`services.ingest.store.admission`). Idempotent, because the
initial migration creates the tables from the current models on a fresh database.
"""

from alembic import op

from services.ingest.models import SCHEMA, deleted_integrations
from services.ingest.store.admission import ADMIT_TENANTS_DDL

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    """Create ``deleted_integrations`` and ``admit_tenants``."""
    deleted_integrations.create(op.get_bind(), checkfirst=True)
    op.execute(ADMIT_TENANTS_DDL)


def downgrade() -> None:
    """Drop both."""
    op.execute(f"DROP FUNCTION IF EXISTS {SCHEMA}.admit_tenants(uuid[])")
    op.execute(f"DROP TABLE IF EXISTS {SCHEMA}.deleted_integrations")
