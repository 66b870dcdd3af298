"""The services' own fixtures, for CLI tests against real services."""

from tests.integration.ingest.conftest import ingest
from tests.integration.rules.conftest import clock, rules, tenant
from tests.integration.sla.conftest import sla
from tests.integration.tickets.conftest import harness, tickets_db

__all__ = ["clock", "harness", "ingest", "rules", "sla", "tenant", "tickets_db"]
