"""``triage alerts list|show|ingest``: the alerts ingest stored (ingest: alerts_ingest.py)."""

from __future__ import annotations

import argparse
from typing import Any

from triage.cli import alerts_ingest
from triage.cli.common import CliContext, emit, enum_name, print_fields, short_time
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb

STUB = api_grpc.IngestServiceStub


def list_(ctx: CliContext, args: argparse.Namespace) -> int:
    """List recent alerts, newest first."""
    request = api.ListAlertEventsRequest(
        page_size=args.limit,
        integration_id=args.integration or "",
        series_key=args.series or "",
        device_id=args.device or "",
    )
    reply = ctx.call("ingest", STUB, "ListAlertEvents", request)
    emit(
        ctx,
        reply,
        rows=[
            [
                a.alert_id,
                short_time(a.received_time),
                enum_name(pb.Provider, a.provider, "PROVIDER_"),
                enum_name(pb.AlertKind, a.kind, "ALERT_KIND_"),
                enum_name(pb.Severity, a.severity, "SEVERITY_"),
                a.device_name or a.device_id,
                "suppressed" if a.suppressed else "",
                a.summary[:60],
            ]
            for a in reply.alert_events
        ],
        headers=["id", "received", "provider", "kind", "severity", "device", "", "summary"],
    )
    return 0


def show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one alert, with its outbound reset state; ``--raw`` adds the body."""
    reply = ctx.call(
        "ingest",
        STUB,
        "GetAlertEvent",
        api.GetAlertEventRequest(
            alert_id=args.id,
            view=pb.ALERT_EVENT_VIEW_FULL if args.raw else pb.ALERT_EVENT_VIEW_BASIC,
        ),
    )
    print_fields(ctx, reply.alert_event)
    return 0


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``alerts``."""
    group = sub.add_parser("alerts", help="stored alert events").add_subparsers(
        dest="action", required=True
    )
    p = group.add_parser("list", parents=parents, help="recent alerts")
    p.add_argument("--integration")
    p.add_argument("--series")
    p.add_argument("--device")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=list_)
    p = group.add_parser("show", parents=parents, help="one alert")
    p.add_argument("id")
    p.add_argument("--raw", action="store_true", help="include the raw body")
    p.set_defaults(handler=show)
    alerts_ingest.register(group, parents)
