from tests.integration.runtime.demo_schema import metadata
from triage.runtime.migrations import run_env

run_env(metadata)
