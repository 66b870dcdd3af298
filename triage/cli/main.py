"""``triage``: one command over the gRPC APIs of the whole mesh."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from triage.cli.common import CliError, add_global_options, context_from, fail

#: Modules that contribute subcommands; each has ``register(subparsers, parents)``.
COMMAND_MODULES = (
    "triage.cli.health",
    "triage.cli.tenants",
    "triage.cli.integrations",
    "triage.cli.alerts",
    "triage.cli.rules",
    "triage.cli.tickets",
    "triage.cli.sla",
    "triage.cli.notify",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (global options are accepted after any subcommand too)."""
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, suppress=True)
    parser = argparse.ArgumentParser(prog="triage", description="Operate a Triage mesh.")
    add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``triage`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = context_from(args)
    try:
        result = args.handler(ctx, args)
    except CliError as error:
        fail(str(error))
        return error.code
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
