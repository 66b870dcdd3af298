"""Partition leases for the demo consumers."""

from tests.integration.runtime.demo_schema import SCHEMA
from triage.runtime.migrations import create_consumer_leases

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Create the lease tables."""
    create_consumer_leases(SCHEMA)
