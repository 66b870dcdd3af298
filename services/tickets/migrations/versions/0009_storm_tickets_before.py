"""A storm incident remembers the alert tickets its client opened before it, so its parent's
title can keep counting as members join."""

from alembic import op

from services.tickets.models import SCHEMA

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    """Add ``incidents.storm_tickets_before`` (0001 already did on a fresh schema)."""
    op.execute(
        f"ALTER TABLE {SCHEMA}.incidents "
        "ADD COLUMN IF NOT EXISTS storm_tickets_before integer NOT NULL DEFAULT 0"
    )
