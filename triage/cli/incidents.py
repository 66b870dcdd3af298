"""``triage incidents list|show|move-member|merge``: correlated alerts and storms behind one
parent ticket (issue 19)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    print_fields,
    print_table,
    short_time,
    to_dict,
)
from triage.tickets.v1 import incidents_pb2 as pb
from triage.tickets.v1 import tickets_service_pb2_grpc as pb_grpc

_TICKETS = "triage.tickets.v1.TicketsService."
#: Which RPCs each command calls (merged into the CLI-completeness table).
RPCS: dict[str, tuple[str, ...]] = {
    "incidents list": (_TICKETS + "ListIncidents",),
    "incidents show": (_TICKETS + "GetIncident",),
    "incidents move-member": (_TICKETS + "MoveIncidentMember",),
    "incidents merge": (_TICKETS + "MergeIncidents",),
}
_HEADERS = ["id", "open", "kind", "rule", "members", "firing", "started", "parent ticket"]


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    """Add the ``incidents`` command and its subcommands."""
    incidents = subparsers.add_parser(
        "incidents", help="correlated alerts and storms behind one ticket", parents=list(parents)
    )
    sub = incidents.add_subparsers(dest="incidents_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("list", help="list incidents, newest first", parents=list(parents))
    p.add_argument("--open", action="store_true", help="only open incidents")
    p.add_argument("--limit", type=int, default=50, help="rows to show in all (default 50)")
    p.set_defaults(handler=_list)
    p = sub.add_parser(
        "show", help="one incident: members, primary, timeline", parents=list(parents)
    )
    p.add_argument("incident", help="incident id")
    p.set_defaults(handler=_show)
    p = sub.add_parser(
        "move-member",
        help="take a member out of its incident (its later alerts get their own ticket)",
        parents=list(parents),
    )
    p.add_argument("incident", help="incident id")
    p.add_argument("series", help="the member's series key")
    p.set_defaults(handler=_move)
    p = sub.add_parser(
        "merge", help="merge incident SOURCE into incident TARGET", parents=list(parents)
    )
    p.add_argument("target", help="the incident that stays")
    p.add_argument("source", help="the incident merged away (its ticket closes)")
    p.set_defaults(handler=_merge)


def _call(ctx: CliContext, method: str, request: Any) -> Any:
    return ctx.call("tickets", pb_grpc.TicketsServiceStub, method, request)


def _row(i: pb.Incident) -> list[Any]:
    return [
        i.id,
        "yes" if i.open else "no",
        "storm" if i.storm else "correlated",
        i.rule_name,
        i.member_count,
        i.active_member_count,
        short_time(i.start_time),
        i.parent_ticket_id,
    ]


def _list(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError("--limit must be at least 1", code=2)
    request = pb.ListIncidentsRequest(open_only=args.open, page_size=min(args.limit, 500))
    found: list[pb.Incident] = []
    while len(found) < args.limit:
        page = _call(ctx, "ListIncidents", request)
        found += list(page.incidents)
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    found = found[: args.limit]
    emit(
        ctx,
        {"incidents": [to_dict(i) for i in found]},
        rows=[_row(i) for i in found],
        headers=_HEADERS,
    )
    return 0


def _show(ctx: CliContext, args: argparse.Namespace) -> int:
    answer = _call(ctx, "GetIncident", pb.GetIncidentRequest(incident_id=args.incident))
    if ctx.json:
        emit(ctx, answer)
        return 0
    print_fields(ctx, answer.incident)
    print()
    print_table(
        ["series", "device", "primary", "occ", "first", "last", "reset", "merged ticket"],
        [
            [
                m.series_key,
                m.device_name,
                "yes" if m.primary else "",
                m.occurrences,
                short_time(m.first_time),
                short_time(m.last_time),
                short_time(m.reset_time) if m.HasField("reset_time") else "",
                m.merged_ticket_id,
            ]
            for m in answer.members
        ],
    )
    print()
    print_table(
        ["time", "what", "series"],
        [[short_time(e.time), e.what, e.series_key] for e in answer.timeline],
    )
    return 0


def _move(ctx: CliContext, args: argparse.Namespace) -> int:
    request = pb.MoveIncidentMemberRequest(incident_id=args.incident, series_key=args.series)
    print_fields(ctx, _call(ctx, "MoveIncidentMember", request).incident)
    return 0


def _merge(ctx: CliContext, args: argparse.Namespace) -> int:
    request = pb.MergeIncidentsRequest(
        target_incident_id=args.target, source_incident_id=args.source
    )
    print_fields(ctx, _call(ctx, "MergeIncidents", request).incident)
    return 0
