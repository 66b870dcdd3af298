"""Channels the tenant marks as its default channels (the ones SLA notify actions use)."""

from alembic import op

from services.notify.models import SCHEMA

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    """Add ``channels.is_default`` (false; 0001 already made it on new databases)."""
    op.execute(
        f"ALTER TABLE {SCHEMA}.channels"
        " ADD COLUMN IF NOT EXISTS is_default boolean NOT NULL DEFAULT false"
    )
