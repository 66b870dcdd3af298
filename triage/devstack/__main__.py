"""``python -m triage.devstack run``: the whole mesh on this machine, until Ctrl-C."""

from __future__ import annotations

import os

# The supervisor forks service processes while this process has gRPC channels open (health
# checks, seeding); gRPC's fork handlers can then abort the child. Nothing here needs them.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from triage.devstack.stack import Stack, start_stack

#: Where ``make run`` serves the web console (services/console).
DEFAULT_CONSOLE_PORT = 8090


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m triage.devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start PostgreSQL, NATS and the five services")
    run.add_argument("--data-dir", type=Path, default=Path(".data"), help="default: .data")
    run.add_argument("--no-services", action="store_true", help="start only PostgreSQL and NATS")
    return parser.parse_args(argv)


async def run(data_dir: Path, *, services: bool) -> int:
    """Start the stack, print the banner and wait for SIGINT/SIGTERM; then stop everything."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.current_task()
    current: Stack | None = None
    signals = 0

    def on_signal(sig: int) -> None:
        nonlocal signals
        signals += 1
        if current is None:
            if signals == 1 and main is not None:
                main.cancel()
        elif signals == 1:
            current.stop_signal = sig
            stop.set()
        else:
            current.supervisor.kill()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with start_stack(data_dir, services=services) as stack:
            current = stack
            if services:
                await stack.start_console(DEFAULT_CONSOLE_PORT)
            print(stack.banner(), flush=True)
            await stop.wait()
            stack.supervisor.say("stopping")
    except asyncio.CancelledError:
        print("interrupted during startup; everything started was stopped", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    try:
        return asyncio.run(run(args.data_dir, services=not args.no_services))
    except (RuntimeError, TimeoutError) as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
