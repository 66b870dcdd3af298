"""``triage``: one command over the gRPC APIs of the whole mesh."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

import grpc

from triage.cli.common import (
    CliError,
    add_global_options,
    context_from,
    describe_rpc_error,
    fail,
    output_closed,
)

#: Modules that contribute subcommands; each has ``register(subparsers, parents)``.
COMMAND_MODULES = (
    "triage.cli.health",
    "triage.cli.tenants",
    "triage.cli.access",
    "triage.cli.offboard",
    "triage.cli.integrations",
    "triage.cli.alerts",
    "triage.cli.rules",
    "triage.cli.correlation",
    "triage.cli.tickets",
    "triage.cli.incidents",
    "triage.cli.settings",
    "triage.cli.sla",
    "triage.cli.notify",
    "triage.cli.audit",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (global options are accepted after any subcommand too)."""
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, suppress=True)
    parser = argparse.ArgumentParser(
        prog="triage",
        description="Operate a Triage mesh.",
        epilog="exit codes: 0 done, 1 unexpected failure, 2 bad input, 3 refused or "
        "unreachable service (status and field violations printed), 130 interrupted, "
        "141 output closed early. Progress of long operations goes to stderr when it is a "
        "terminal or with --progress.",
    )
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
    """Entry point of the ``triage`` command; returns the exit code.

    Exit codes: 0 done, 1 unexpected failure, 2 bad input (usage, flags, files), 3 the
    service refused or could not be reached (its status and field violations printed),
    130 interrupted, 141 stdout closed early (``triage ... | head``), as for SIGPIPE.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        result = args.handler(context_from(args), args)
        sys.stdout.flush()
    except BrokenPipeError:
        return output_closed()
    except CliError as error:
        fail(str(error))
        return error.code
    except grpc.RpcError as error:
        fail(describe_rpc_error(error))
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug: one line, not a traceback (TRIAGE_DEBUG=1 shows it)
        if os.environ.get("TRIAGE_DEBUG"):
            raise
        fail(f"unexpected {type(error).__name__}: {error} (TRIAGE_DEBUG=1 shows where)")
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
