"""Integrations stored before ``allow_query_token`` was kept explicitly say ``true``.

The setting used to be dropped from the stored JSON when false, and a missing value
meant "allowed", so it could not be turned off. It is now always stored and a missing
value means the proto's default (false); the integrations that existed keep accepting
``?token=`` as they did, and the API now reports it.
"""

from alembic import op

from services.ingest.models import SCHEMA

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Write ``allow_query_token: true`` where it is missing."""
    op.execute(
        f"UPDATE {SCHEMA}.integrations "
        "SET settings = settings || '{\"allow_query_token\": true}'::jsonb "
        "WHERE NOT settings ? 'allow_query_token'"
    )
