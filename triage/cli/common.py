"""What every CLI subcommand shares: addresses, credentials, calling, and printing."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import grpc
from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from triage.mesh import DEFAULT_GRPC_PORTS, SERVICE_NAMES

T = TypeVar("T")


class CliError(Exception):
    """An error to print for the user, with the exit code to leave with."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CliContext:
    """Resolved global options."""

    addresses: dict[str, str]
    token: str | None
    json: bool
    timeout: float
    #: ``--progress``: show progress on stderr even when it is not a terminal.
    progress: bool = False

    def metadata(self) -> list[tuple[str, str]]:
        """Call metadata carrying the bearer token."""
        if not self.token:
            raise CliError("no token: pass --token or set TRIAGE_TOKEN", code=2)
        return [("authorization", f"Bearer {self.token}")]

    @contextmanager
    def channel(self, service: str) -> Iterator[grpc.Channel]:
        """A channel to ``service``'s gRPC address."""
        channel = grpc.insecure_channel(self.addresses[service])
        try:
            yield channel
        finally:
            channel.close()

    def call(
        self, service: str, stub_type: Callable[[grpc.Channel], Any], method: str, request: Message
    ) -> Any:
        """Call ``method`` on ``service`` and translate failures into :class:`CliError`."""
        with self.channel(service) as channel:
            stub = stub_type(channel)
            try:
                return getattr(stub, method)(
                    request, metadata=self.metadata(), timeout=self.timeout
                )
            except grpc.RpcError as error:
                raise CliError(describe_rpc_error(error), code=3) from error


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """Options every subcommand understands (``suppress``: for subcommand copies, so a
    value given before the subcommand is not reset by the copy's default)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON, not a table"
    )
    parser.add_argument(
        "--token", default=default(None), help="bearer token (default: $TRIAGE_TOKEN)"
    )
    parser.add_argument(
        "--timeout", type=float, default=default(10.0), help="per-call timeout, seconds"
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        default=default(False),
        help="show progress of long operations on stderr (default: only on a terminal)",
    )
    for name in SERVICE_NAMES:
        parser.add_argument(
            f"--{name}-addr",
            default=default(None),
            help=f"{name} gRPC address (default: $TRIAGE_{name.upper()}_ADDR or "
            f"127.0.0.1:{DEFAULT_GRPC_PORTS[name]})",
        )
    parser.add_argument(
        "--gateway-url",
        default=default(None),
        help="webhook gateway base URL (default: $TRIAGE_GATEWAY_URL or http://127.0.0.1:8080)",
    )


def context_from(args: argparse.Namespace) -> CliContext:
    """Resolve global options from flags, then the environment, then defaults."""
    addresses = {
        name: getattr(args, f"{name}_addr", None)
        or os.environ.get(f"TRIAGE_{name.upper()}_ADDR")
        or f"127.0.0.1:{DEFAULT_GRPC_PORTS[name]}"
        for name in SERVICE_NAMES
    }
    addresses["gateway"] = (
        getattr(args, "gateway_url", None)
        or os.environ.get("TRIAGE_GATEWAY_URL")
        or "http://127.0.0.1:8080"
    )
    return CliContext(
        addresses=addresses,
        token=getattr(args, "token", None) or os.environ.get("TRIAGE_TOKEN"),
        json=bool(getattr(args, "json", False)),
        timeout=float(getattr(args, "timeout", 10.0)),
        progress=bool(getattr(args, "progress", False)),
    )


def describe_rpc_error(error: grpc.RpcError) -> str:
    """A readable description of a failed call: ``CODE: message``, the reason of its
    ErrorInfo, then one ``  field: why`` line per field violation."""
    code = error.code().name if hasattr(error, "code") else "UNKNOWN"
    text = error.details() if hasattr(error, "details") else str(error)
    lines = [f"{code}: {text}"]
    try:
        status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
    except ValueError:  # status details that disagree with the call's own code
        status = None
    details: list[Any] = list(status.details) if status is not None else []
    for detail in details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.reason:
                lines[0] += f" [{info.reason}]"
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            lines += [f"  {v.field}: {v.description}" for v in bad.field_violations]
    return "\n".join(lines)


def to_dict(message: Message) -> dict[str, Any]:
    """A protobuf message as JSON-ready data (field names as in the proto)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def emit(
    ctx: CliContext,
    data: Any,
    *,
    rows: Sequence[Sequence[Any]] | None = None,
    headers: Sequence[str] | None = None,
) -> None:
    """Print ``data`` as JSON with ``--json``, else ``rows`` as an aligned table."""
    if ctx.json or rows is None:
        if isinstance(data, Message):
            data = to_dict(data)
        print(json.dumps(data, indent=2, default=str, sort_keys=False))
        return
    print_table(headers or [], rows)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print an aligned plain-text table."""
    cells = [[str(h).upper() for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))] if cells[0] else []
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def print_fields(ctx: CliContext, message: Message, extra: dict[str, Any] | None = None) -> None:
    """Print one resource as ``key: value`` lines (or JSON with ``--json``)."""
    data = to_dict(message)
    if extra:
        data.update(extra)
    if ctx.json:
        print(json.dumps(data, indent=2, default=str))
        return
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else value
        print(f"{key.ljust(width)}  {shown}")


def parse_duration(text: str) -> duration_pb2.Duration:
    """Parse ``90s``, ``15m``, ``2h``, ``1d`` (or plain seconds) into a Duration."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError) as exc:
        raise CliError(f"bad duration {text!r}: use e.g. 90s, 15m, 2h, 1d", code=2) from exc
    duration = duration_pb2.Duration()
    duration.FromTimedelta(timedelta(seconds=seconds))
    return duration


def short_time(stamp: Any) -> str:
    """A Timestamp as ``YYYY-MM-DD HH:MM:SSZ`` (empty when unset)."""
    if stamp is None or (not stamp.seconds and not stamp.nanos):
        return ""
    return str(stamp.ToDatetime().strftime("%Y-%m-%d %H:%M:%SZ"))


def enum_name(enum_type: Any, value: int, prefix: str) -> str:
    """``TICKET_STATUS_OPEN`` -> ``open``."""
    name: str = enum_type.Name(value)
    return name.removeprefix(prefix).lower()


def output_closed() -> int:
    """Leave quietly after the reader of stdout went away (``triage ... | head``).

    Later writes, including the interpreter's flush at exit, go to /dev/null instead of
    raising BrokenPipeError again; 141 is what a shell reports for a SIGPIPE death.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass
    finally:
        os.close(devnull)
    return 141


def fail(message: str) -> None:
    """Print an error to stderr."""
    print(f"error: {message}", file=sys.stderr)
