"""``triage alerts ingest``: send already-normalized alerts (IngestAlerts), in batches."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from triage.cli.common import CliContext, CliError, emit
from triage.cli.progress import progress
from triage.cli.rules_common import parse_into
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb

#: The server's cap per IngestAlerts call.
MAX_BATCH = 1000


def read_alerts(path: str) -> list[pb.AlertEvent]:
    """AlertEvents from ``path`` (``-``: stdin): a JSON list, ``{"alerts": [...]}``, or
    JSON Lines (one AlertEvent per line); exit 2 naming the bad item."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc}", code=2) from exc
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and "alerts" in data:
        data = data["alerts"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        data = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                data.append(json.loads(line))
            except ValueError as exc:
                raise CliError(f"{path}:{number}: not JSON: {exc}", code=2) from exc
    alerts = []
    for index, item in enumerate(data):
        try:
            alerts.append(parse_into(item, pb.AlertEvent()))
        except CliError as exc:
            raise CliError(f"{path}: alert {index}: {exc}", code=2) from exc
    return alerts


def batch_ids(request_id: str | None, count: int) -> list[str]:
    """One request id per batch; derived from ``request_id`` when given, so running the
    same command again returns the first answers instead of ingesting twice."""
    if not request_id:
        return [str(uuid.uuid4()) for _ in range(count)]
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"triage:{request_id}/{i}")) for i in range(count)]


def ingest(ctx: CliContext, args: argparse.Namespace) -> int:
    """Send the file's alerts in batches of ``--batch-size``, then print one row each."""
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise CliError(f"--batch-size must be 1 to {MAX_BATCH}", code=2)
    alerts = read_alerts(args.from_json)
    if not alerts:
        raise CliError(f"{args.from_json}: no alerts", code=2)
    batches = [alerts[i : i + args.batch_size] for i in range(0, len(alerts), args.batch_size)]
    results: list[api.IngestAlertResult] = []
    with progress(ctx, "ingest", total=len(alerts), unit="alerts") as bar:
        for request_id, batch in zip(
            batch_ids(args.request_id, len(batches)), batches, strict=True
        ):
            reply = ctx.call(
                "ingest",
                api_grpc.IngestServiceStub,
                "IngestAlerts",
                api.IngestAlertsRequest(request_id=request_id, alerts=batch),
            )
            results += reply.results
            bar.advance(len(batch))
    emit(
        ctx,
        {
            "results": [
                {"alert_id": r.alert_id, "delivery_key": r.delivery_key, "duplicate": r.duplicate}
                for r in results
            ]
        },
        rows=[[r.alert_id, r.delivery_key, "yes" if r.duplicate else ""] for r in results],
        headers=["alert", "delivery key", "duplicate"],
    )
    return 0


def register(group: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``alerts ingest`` to the ``alerts`` group's subcommands."""
    p = group.add_parser(
        "ingest", parents=parents, help="send normalized alerts (not a provider webhook)"
    )
    p.add_argument(
        "--from-json",
        metavar="FILE",
        required=True,
        help="AlertEvents: a JSON list, {\"alerts\": [...]} or JSON Lines ('-': stdin)",
    )
    p.add_argument("--batch-size", type=int, default=500, help=f"alerts per call (max {MAX_BATCH})")
    p.add_argument(
        "--request-id",
        default=None,
        help="running the same command again returns the first answers",
    )
    p.set_defaults(handler=ingest)
