"""Every RPC of every service has a ``triage`` command (checked against the descriptors).

The RPCs come from the generated modules under ``triage/*/v1`` found on disk, so a service
or RPC added later is checked without editing this test.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
from google.protobuf.descriptor import MethodDescriptor

import triage
from triage.cli.main import COMMAND_MODULES, build_parser
from triage.cli.rpcs import declared, leaf_commands


def service_methods() -> dict[str, MethodDescriptor]:
    """Every RPC of every ``triage.*.v1`` service by full name (``pkg.Service.Method``)."""
    root = Path(next(iter(triage.__path__)))
    methods: dict[str, MethodDescriptor] = {}
    for path in sorted(root.glob("*/v1/*_pb2.py")):
        module = importlib.import_module(f"triage.{path.parent.parent.name}.v1.{path.stem}")
        for service in module.DESCRIPTOR.services_by_name.values():
            methods.update({m.full_name: m for m in service.methods})
    return methods


METHODS = service_methods()
TABLE = declared(COMMAND_MODULES)
COMMANDS = leaf_commands(build_parser())


def test_the_walk_finds_every_service() -> None:
    """Sanity: the five services' RPCs are found (a broken walk would pass everything)."""
    services = {m.containing_service.full_name for m in METHODS.values()}
    assert {
        "triage.ingest.v1.IngestService",
        "triage.ingest.v1.TenantService",
        "triage.rules.v1.RulesService",
        "triage.tickets.v1.TicketsService",
        "triage.sla.v1.SlaService",
        "triage.notify.v1.NotifyService",
    } <= services
    assert len(METHODS) >= 68


def test_every_rpc_has_a_command() -> None:
    """Names each RPC that no command declares (add a command and a row in
    triage/cli/rpcs.py, or an ``RPCS`` entry in the command's module)."""
    covered = {rpc for rpcs in TABLE.values() for rpc in rpcs}
    missing = sorted(set(METHODS) - covered)
    assert not missing, "RPCs without a triage command:\n  " + "\n  ".join(missing)


def test_every_declared_command_exists() -> None:
    """A row naming a command the parser does not have is stale."""
    stale = sorted(set(TABLE) - set(COMMANDS))
    assert not stale, f"declared but not commands: {stale}"


def test_every_declared_rpc_exists() -> None:
    """A declared RPC must be a real one (catches typos and removed RPCs)."""
    unknown = sorted({rpc for rpcs in TABLE.values() for rpc in rpcs} - set(METHODS))
    assert not unknown, f"not RPCs of any service: {unknown}"


@pytest.mark.parametrize("command", sorted(TABLE))
def test_the_command_really_names_its_rpcs(command: str) -> None:
    """The declaration is honest: the handler's module calls each RPC by name."""
    handler = COMMANDS.get(command)
    if handler is None:
        pytest.skip(f"{command!r} is not a command (see test_every_declared_command_exists)")
    source = inspect.getsource(inspect.getmodule(handler) or handler)
    absent = [rpc for rpc in TABLE[command] if f'"{rpc.rsplit(".", 1)[1]}"' not in source]
    assert not absent, f"{command}: its handler's module never calls {absent}"


def test_every_command_runs_something() -> None:
    """Each command has a handler (argparse would otherwise fail at run time)."""
    assert all(COMMANDS.values()), [c for c, h in COMMANDS.items() if h is None]
