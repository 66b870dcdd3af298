"""What ``triage channels``, ``notify-policies`` and ``deliveries`` share: calls to the
notify service, enum words, pages and subcommand parsers."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.message import Message

from triage.cli.common import CliContext, CliError, emit, to_dict
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb

Handler = Callable[[CliContext, argparse.Namespace], int]


def call(ctx: CliContext, method: str, request: Message) -> Any:
    """Call ``method`` of the notify service."""
    return ctx.call("notify", api_grpc.NotifyServiceStub, method, request)


def enum_value(enum_type: Any, prefix: str, text: str, what: str) -> int:
    """The value of enum word ``text`` (``high`` -> ``PREFIX_HIGH``); exit 2 if unknown."""
    name = prefix + text.strip().upper().replace(".", "_").replace("-", "_")
    try:
        return int(enum_type.Value(name))
    except ValueError as exc:
        raise CliError(f"unknown {what} {text!r}", code=2) from exc


def parse_event_type(text: str) -> int:
    """A notification event type from its word (``ticket.opened``)."""
    return enum_value(pb.NotificationEventType, "NOTIFICATION_EVENT_TYPE_", text, "event type")


def fetch_pages(
    ctx: CliContext, method: str, request: Any, field: str, all_pages: bool
) -> tuple[list[Any], str]:
    """The items of one page, or of every page with ``all_pages``, and the next token."""
    items: list[Any] = []
    while True:
        reply = call(ctx, method, request)
        items += list(getattr(reply, field))
        if not all_pages or not reply.next_page_token:
            return items, reply.next_page_token
        request.page_token = reply.next_page_token


def add_list_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--page-size``, ``--page-token`` and ``--all``."""
    parser.add_argument("--page-size", type=int, default=0)
    parser.add_argument("--page-token", default="")
    parser.add_argument("--all", action="store_true", help="follow every page")


def emit_page(
    ctx: CliContext,
    items: Sequence[Message],
    token: str,
    key: str,
    rows: list[list[Any]],
    headers: Sequence[str],
) -> int:
    """Print one page of ``items`` under ``key``, and how to ask for the next."""
    emit(
        ctx,
        {key: [to_dict(i) for i in items], "next_page_token": token},
        rows=rows,
        headers=headers,
    )
    if token and not ctx.json:
        print(f"next page: --page-token {token}")
    return 0


def add_command(
    sub: Any,
    name: str,
    handler: Handler,
    parents: Sequence[argparse.ArgumentParser],
    help_text: str,
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` running ``handler``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, parents=list(parents), help=help_text)
    parser.set_defaults(handler=handler)
    return parser
