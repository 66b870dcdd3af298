"""Alembic environment of the rules schema."""

from services.rules.models import metadata
from triage.runtime import run_env

run_env(metadata)
