"""Flap damping (issue 18): the tenant's damping settings and a settings version (etag);
a ticket's ``flapping_since``."""

from alembic import op

from services.tickets.models import SCHEMA

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    """Add the damping columns (0001 already did on a fresh schema)."""
    settings = f"{SCHEMA}.tenant_settings"
    for column in (
        "flap_damping boolean NOT NULL DEFAULT true",
        "flap_changes integer NOT NULL DEFAULT 5",
        "flap_window_seconds double precision NOT NULL DEFAULT 1800",
        "version bigint NOT NULL DEFAULT 1",
    ):
        op.execute(f"ALTER TABLE {settings} ADD COLUMN IF NOT EXISTS {column}")
    op.execute(f"ALTER TABLE {SCHEMA}.tickets ADD COLUMN IF NOT EXISTS flapping_since timestamptz")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS tickets_flapping ON {SCHEMA}.tickets (flapping_since)"
        " WHERE flapping_since IS NOT NULL AND closed_at IS NULL"
    )
