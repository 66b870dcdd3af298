"""The services' own fixtures, for CLI tests against real services."""

from tests.integration.ingest.conftest import ingest

__all__ = ["ingest"]
