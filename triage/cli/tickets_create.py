"""``triage tickets create``: open a ticket by hand (not from an alert)."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from typing import Any

from triage.cli.common import CliContext, CliError, emit, enum_name, short_time
from triage.cli.rules_common import load_json, parse_into
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as pb
from triage.tickets.v1 import tickets_service_pb2_grpc as pb_grpc

_PRIORITIES = ["p1", "p2", "p3", "p4", "p5"]
_TEXT = (
    ("title", "title"),
    ("description", "description"),
    ("queue", "queue"),
    ("assignee", "assignee"),
    ("client", "client_id"),
    ("client_name", "client_name"),
    ("site", "site_id"),
    ("site_name", "site_name"),
    ("device", "device_id"),
    ("device_name", "device_name"),
)


def ticket_from_flags(args: argparse.Namespace) -> res.Ticket:
    """The ticket the flags (over ``--from-json``, when given) describe."""
    ticket = res.Ticket()
    if args.from_json:
        parse_into(load_json(args.from_json), ticket)
    for flag, field in _TEXT:
        value = getattr(args, flag)
        if value is not None:
            setattr(ticket, field, value)
    if args.priority:
        ticket.priority = res.Priority.Value(f"PRIORITY_{args.priority.upper()}")
    if not ticket.title.strip():
        raise CliError("a ticket needs a title: pass --title (or title in --from-json)", 2)
    return ticket


def create(ctx: CliContext, args: argparse.Namespace) -> int:
    """Create the ticket (``--request-id`` makes a retry return the first ticket)."""
    reply = ctx.call(
        "tickets",
        pb_grpc.TicketsServiceStub,
        "CreateTicket",
        pb.CreateTicketRequest(
            request_id=args.request_id or str(uuid.uuid4()), ticket=ticket_from_flags(args)
        ),
    )
    t = reply.ticket
    emit(
        ctx,
        t,
        rows=[
            [
                f"#{t.number}",
                t.id,
                enum_name(res.TicketStatus, t.status, "TICKET_STATUS_"),
                enum_name(res.Priority, t.priority, "PRIORITY_").upper(),
                t.queue,
                short_time(t.create_time),
                t.title,
            ]
        ],
        headers=["number", "id", "status", "prio", "queue", "created", "title"],
    )
    return 0


def register(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add ``tickets create`` to the ``tickets`` group's subcommands."""
    p = sub.add_parser("create", help="open a ticket by hand", parents=list(parents))
    p.add_argument("--title", help="required unless --from-json has one")
    p.add_argument("--description")
    p.add_argument("--priority", choices=_PRIORITIES, help="default p3")
    p.add_argument("--queue")
    p.add_argument("--assignee")
    p.add_argument("--client", help="client id")
    p.add_argument("--client-name")
    p.add_argument("--site", help="site id")
    p.add_argument("--site-name")
    p.add_argument("--device", help="device id")
    p.add_argument("--device-name")
    p.add_argument("--from-json", metavar="FILE", help="a Ticket as proto JSON ('-': stdin)")
    p.add_argument("--request-id", default=None, help="makes a retry return the first answer")
    p.set_defaults(handler=create)
