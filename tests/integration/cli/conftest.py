"""The services' own fixtures, for CLI tests against real services."""

from tests.integration.ingest.conftest import ingest
from tests.integration.rules.conftest import clock, rules, tenant

__all__ = ["clock", "ingest", "rules", "tenant"]
