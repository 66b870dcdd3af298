"""Embedded PostgreSQL and NATS, and the process supervisor behind ``make run`` and the tests."""

from triage.devstack.endpoints import Endpoints, Ports
from triage.devstack.nats import EmbeddedNats
from triage.devstack.postgres import EmbeddedPostgres
from triage.devstack.seed import SeedResult, seed_demo
from triage.devstack.stack import Keys, Stack, build_service_env, load_or_create_keys, start_stack
from triage.devstack.supervisor import RestartPolicy, Supervisor

__all__ = [
    "EmbeddedNats",
    "EmbeddedPostgres",
    "Endpoints",
    "Keys",
    "Ports",
    "RestartPolicy",
    "SeedResult",
    "Stack",
    "Supervisor",
    "build_service_env",
    "load_or_create_keys",
    "seed_demo",
    "start_stack",
]
