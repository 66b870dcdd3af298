"""``triage tickets create|list|show|update|comment|log-time|close|reopen``."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from typing import Any

from google.protobuf import field_mask_pb2

from triage.cli import tickets_create
from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    enum_name,
    parse_duration,
    print_fields,
    print_table,
    short_time,
    to_dict,
)
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as pb
from triage.tickets.v1 import tickets_service_pb2_grpc as pb_grpc

_STATUSES = ["new", "open", "in_progress", "awaiting_customer", "resolved", "closed"]
_PRIORITIES = ["p1", "p2", "p3", "p4", "p5"]
_TEXT_FIELDS = ("title", "description", "queue", "assignee")


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    """Add the ``tickets`` command and its subcommands."""
    tickets = subparsers.add_parser("tickets", help="work with tickets", parents=list(parents))
    sub = tickets.add_subparsers(dest="tickets_command", metavar="SUBCOMMAND", required=True)
    tickets_create.register(sub, parents)

    p = sub.add_parser("list", help="list tickets, newest first", parents=list(parents))
    p.add_argument("--status", action="append", choices=_STATUSES, default=[])
    p.add_argument("--priority", action="append", choices=_PRIORITIES, default=[])
    state = p.add_mutually_exclusive_group()
    state.add_argument("--open", dest="open", action="store_true", default=None)
    state.add_argument("--closed", dest="open", action="store_false")
    for name in ("queue", "assignee", "client", "device", "series", "query"):
        p.add_argument(f"--{name}", default="")
    p.add_argument("--limit", type=int, default=50, help="rows to show in all (default 50)")
    p.set_defaults(handler=_list)

    p = sub.add_parser("show", help="show one ticket", parents=list(parents))
    p.add_argument("ticket", help="ticket id or #number")
    p.add_argument("--comments", action="store_true", help="also list its comments")
    p.add_argument("--history", action="store_true", help="also list its history")
    p.add_argument("--time", action="store_true", help="also list its time entries")
    p.set_defaults(handler=_show)

    p = sub.add_parser("update", help="change fields of a ticket", parents=list(parents))
    p.add_argument("ticket")
    for name in _TEXT_FIELDS:
        p.add_argument(f"--{name}")
    p.add_argument("--status", choices=_STATUSES)
    p.add_argument("--priority", choices=_PRIORITIES)
    p.add_argument("--etag", default="", help="fail if the ticket changed since this etag")
    p.set_defaults(handler=_update)

    p = sub.add_parser("comment", help="add a comment", parents=list(parents))
    p.add_argument("ticket")
    p.add_argument("body")
    p.add_argument("--public", action="store_true", help="visible to the customer")
    p.set_defaults(handler=_comment)

    p = sub.add_parser("log-time", help="log time worked", parents=list(parents))
    p.add_argument("ticket")
    p.add_argument("duration", help="e.g. 15m, 1.5h")
    p.add_argument("--note", default="")
    p.add_argument("--billable", action="store_true")
    p.set_defaults(handler=_log_time)

    p = sub.add_parser("close", help="close a ticket", parents=list(parents))
    p.add_argument("ticket")
    p.add_argument("--resolution", default="", help="public closing comment")
    reset = p.add_mutually_exclusive_group()
    reset.add_argument("--reset-alert", dest="reset_alert", action="store_true", default=None)
    reset.add_argument("--no-reset-alert", dest="reset_alert", action="store_false")
    p.add_argument("--etag", default="")
    p.set_defaults(handler=_close)

    p = sub.add_parser("reopen", help="reopen a closed ticket", parents=list(parents))
    p.add_argument("ticket")
    p.add_argument("--reason", default="")
    p.add_argument("--etag", default="")
    p.set_defaults(handler=_reopen)


def _call(ctx: CliContext, method: str, request: Any) -> Any:
    return ctx.call("tickets", pb_grpc.TicketsServiceStub, method, request)


def _status(name: str) -> Any:
    return res.TicketStatus.Value(f"TICKET_STATUS_{name.upper()}")


def _priority(name: str) -> Any:
    return res.Priority.Value(f"PRIORITY_{name.upper()}")


def _row(t: res.Ticket) -> list[Any]:
    return [
        f"#{t.number}",
        enum_name(res.TicketStatus, t.status, "TICKET_STATUS_"),
        enum_name(res.Priority, t.priority, "PRIORITY_").upper(),
        t.queue,
        t.assignee,
        t.occurrence_count or "",
        short_time(t.create_time),
        t.title,
    ]


_HEADERS = ["number", "status", "prio", "queue", "assignee", "occ", "created", "title"]


def _list(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError("--limit must be at least 1", code=2)
    request = pb.ListTicketsRequest(
        statuses=[_status(s) for s in args.status],
        priorities=[_priority(p) for p in args.priority],
        queue=args.queue,
        assignee=args.assignee,
        client_id=args.client,
        device_id=args.device,
        series_key=args.series,
        query=args.query,
        page_size=min(max(args.limit, 1), 500),
    )
    if args.open is not None:
        request.open = args.open
    tickets: list[res.Ticket] = []
    while len(tickets) < args.limit:
        page = _call(ctx, "ListTickets", request)
        tickets += list(page.tickets)
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    tickets = tickets[: args.limit]
    emit(
        ctx,
        {"tickets": [to_dict(t) for t in tickets]},
        rows=[_row(t) for t in tickets],
        headers=_HEADERS,
    )
    return 0


def _show(ctx: CliContext, args: argparse.Namespace) -> int:
    ticket = _call(ctx, "GetTicket", pb.GetTicketRequest(ticket_id=args.ticket)).ticket
    extra: dict[str, Any] = {}
    if args.comments:
        extra["comments"] = _all(
            ctx, "ListComments", pb.ListCommentsRequest(ticket_id=ticket.id), "comments"
        )
    if args.history:
        extra["history"] = _all(
            ctx,
            "ListTicketHistory",
            pb.ListTicketHistoryRequest(ticket_id=ticket.id),
            "history_entries",
        )
    if args.time:
        extra["time_entries"] = _all(
            ctx, "ListTimeEntries", pb.ListTimeEntriesRequest(ticket_id=ticket.id), "time_entries"
        )
    if ctx.json:
        print_fields(ctx, ticket, {k: [to_dict(i) for i in v] for k, v in extra.items()})
        return 0
    print_fields(ctx, ticket)
    for item in extra.get("comments", []):
        kind = enum_name(res.AuthorKind, item.author_kind, "AUTHOR_KIND_")
        seen = enum_name(res.CommentVisibility, item.visibility, "COMMENT_VISIBILITY_")
        print(f"\n[{short_time(item.create_time)}] {item.author} ({kind}, {seen})\n{item.body}")
    if "history" in extra:
        print()
        print_table(
            ["time", "kind", "cause", "actor", "changes"],
            [
                [
                    short_time(h.change_time),
                    enum_name(res.HistoryKind, h.kind, "HISTORY_KIND_"),
                    enum_name(res.ChangeCause, h.cause, "CHANGE_CAUSE_"),
                    h.actor,
                    ", ".join(f"{c.field_path}: {c.before}->{c.after}" for c in h.changes)
                    or h.detail,
                ]
                for h in extra["history"]
            ],
        )
    if "time_entries" in extra:
        print()
        print_table(
            ["logged", "author", "minutes", "billable", "note"],
            [
                [
                    short_time(e.create_time),
                    e.author,
                    round(e.duration.ToTimedelta().total_seconds() / 60, 1),
                    "yes" if e.billable else "",
                    e.note,
                ]
                for e in extra["time_entries"]
            ],
        )
    return 0


def _all(ctx: CliContext, method: str, request: Any, field: str) -> list[Any]:
    items: list[Any] = []
    while True:
        page = _call(ctx, method, request)
        items += list(getattr(page, field))
        if not page.next_page_token:
            return items
        request.page_token = page.next_page_token


def _update(ctx: CliContext, args: argparse.Namespace) -> int:
    current = _call(ctx, "GetTicket", pb.GetTicketRequest(ticket_id=args.ticket)).ticket
    ticket = res.Ticket(id=current.id, etag=args.etag)
    paths: list[str] = []
    for name in _TEXT_FIELDS:
        value = getattr(args, name)
        if value is not None:
            setattr(ticket, name, value)
            paths.append(name)
    if args.status:
        ticket.status = _status(args.status)
        paths.append("status")
    if args.priority:
        ticket.priority = _priority(args.priority)
        paths.append("priority")
    if not paths:
        raise CliError("nothing to update: pass --title, --status, --priority, ...", code=2)
    reply = _call(
        ctx,
        "UpdateTicket",
        pb.UpdateTicketRequest(
            request_id=str(uuid.uuid4()),
            ticket=ticket,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
    )
    return _print_ticket(ctx, reply.ticket)


def _print_ticket(ctx: CliContext, ticket: res.Ticket) -> int:
    emit(ctx, ticket, rows=[_row(ticket)], headers=_HEADERS)
    return 0


def _comment(ctx: CliContext, args: argparse.Namespace) -> int:
    visibility = res.COMMENT_VISIBILITY_PUBLIC if args.public else res.COMMENT_VISIBILITY_INTERNAL
    reply = _call(
        ctx,
        "AddComment",
        pb.AddCommentRequest(
            request_id=str(uuid.uuid4()),
            ticket_id=args.ticket,
            comment=res.Comment(body=args.body, visibility=visibility),
        ),
    )
    emit(
        ctx,
        reply,
        rows=[[reply.comment.id, short_time(reply.comment.create_time), reply.ticket_etag]],
        headers=["comment", "created", "ticket etag"],
    )
    return 0


def _log_time(ctx: CliContext, args: argparse.Namespace) -> int:
    reply = _call(
        ctx,
        "AddTimeEntry",
        pb.AddTimeEntryRequest(
            request_id=str(uuid.uuid4()),
            ticket_id=args.ticket,
            time_entry=res.TimeEntry(
                duration=parse_duration(args.duration), note=args.note, billable=args.billable
            ),
        ),
    )
    entry = reply.time_entry
    emit(
        ctx,
        reply,
        rows=[[entry.id, round(entry.duration.ToTimedelta().total_seconds() / 60, 1), entry.note]],
        headers=["entry", "minutes", "note"],
    )
    return 0


def _close(ctx: CliContext, args: argparse.Namespace) -> int:
    request = pb.CloseTicketRequest(
        request_id=str(uuid.uuid4()),
        ticket_id=args.ticket,
        etag=args.etag,
        resolution=args.resolution,
    )
    if args.reset_alert is not None:
        request.reset_alert = args.reset_alert
    return _print_ticket(ctx, _call(ctx, "CloseTicket", request).ticket)


def _reopen(ctx: CliContext, args: argparse.Namespace) -> int:
    reply = _call(
        ctx,
        "ReopenTicket",
        pb.ReopenTicketRequest(
            request_id=str(uuid.uuid4()),
            ticket_id=args.ticket,
            etag=args.etag,
            reason=args.reason,
        ),
    )
    return _print_ticket(ctx, reply.ticket)
