"""The HTTP webhook gateway: the ingest process's HTTP face."""
