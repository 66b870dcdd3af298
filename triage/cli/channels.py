"""``triage channels``: notification channels of the notify service."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from typing import Any

from google.protobuf import field_mask_pb2

from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    enum_name,
    parse_duration,
    print_fields,
)
from triage.cli.notify_common import (
    add_command,
    add_list_options,
    call,
    emit_page,
    enum_value,
    fetch_pages,
    parse_event_type,
)
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import resources_pb2 as pb
from triage.types.v1 import time_pb2

KINDS = ("webhook", "ntfy", "smtp", "slack", "teams")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _time_of_day(text: str) -> time_pb2.TimeOfDay:
    try:
        hours, _, minutes = text.partition(":")
        return time_pb2.TimeOfDay(hours=int(hours), minutes=int(minutes or 0))
    except ValueError as exc:
        raise CliError(f"bad time {text!r}: use HH:MM", code=2) from exc


def _quiet_range(text: str) -> time_pb2.WeeklyTimeRange:
    """``22:00-07:00`` or ``22:00-07:00@mon,tue``."""
    span, _, days = text.partition("@")
    start, sep, end = span.partition("-")
    if not sep:
        raise CliError(f"bad quiet range {text!r}: use 22:00-07:00[@mon,tue]", code=2)
    out = time_pb2.WeeklyTimeRange(start=_time_of_day(start), end=_time_of_day(end))
    for day in filter(None, days.split(",")):
        if day.lower()[:3] not in _DAYS:
            raise CliError(f"unknown day {day!r}", code=2)
        out.days.append(_DAYS.index(day.lower()[:3]) + 1)  # type: ignore[arg-type]
    return out


def _count_per(text: str, what: str) -> tuple[int, Any]:
    """``10/1m`` -> (10, 60 s)."""
    count, sep, period = text.partition("/")
    if not sep or not count.strip().isdigit():
        raise CliError(f"bad {what} {text!r}: use COUNT/DURATION such as 10/1m", code=2)
    return int(count), parse_duration(period)


def _add_channel_options(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--name", required=create, help="display name")
    if create:
        parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--disabled", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--default",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one of the default channels SLA notify actions use (none marked: all enabled)",
    )
    parser.add_argument("--url", help="webhook URL")
    parser.add_argument("--signing-secret", help="webhook HMAC secret (write-only)")
    parser.add_argument("--bearer-token", help="webhook bearer token (write-only)")
    parser.add_argument("--header", action="append", default=None, metavar="NAME=VALUE")
    parser.add_argument("--server-url", help="ntfy server")
    parser.add_argument("--topic", help="ntfy topic")
    parser.add_argument("--access-token", help="ntfy access token (write-only)")
    parser.add_argument("--tag", action="append", default=None, help="ntfy tag")
    parser.add_argument("--host", help="SMTP host")
    parser.add_argument("--port", type=int, help="SMTP port")
    parser.add_argument("--security", choices=("starttls", "tls", "none"))
    parser.add_argument("--username", help="SMTP user")
    parser.add_argument("--password", help="SMTP password (write-only)")
    parser.add_argument("--from", dest="from_address", help="SMTP From address")
    parser.add_argument("--to", action="append", default=None, help="SMTP recipient")
    parser.add_argument("--ca-file", help="PEM file of a private CA for SMTP")
    parser.add_argument("--webhook-url", help="Slack/Teams incoming webhook URL (write-only)")
    parser.add_argument("--quiet", action="append", default=None, metavar="22:00-07:00[@DAYS]")
    parser.add_argument("--quiet-zone", help="IANA zone of the quiet hours")
    parser.add_argument("--quiet-hold-critical", action="store_true", default=None)
    parser.add_argument("--rate", metavar="COUNT/PERIOD", help="rate limit, e.g. 10/1m")
    parser.add_argument("--digest", metavar="COUNT/WINDOW", help="digest bursts, e.g. 5/2m")
    parser.add_argument("--subject-template", help="subject/title template override")
    parser.add_argument("--body-template", help="body template override")


_KIND_OPTIONS: dict[str, dict[str, str]] = {
    "webhook": {
        "url": "url",
        "signing_secret": "signing_secret",
        "bearer_token": "bearer_token",
        "header": "headers",
    },
    "ntfy": {
        "server_url": "server_url",
        "topic": "topic",
        "access_token": "access_token",
        "tag": "tags",
    },
    "smtp": {
        "host": "host",
        "port": "port",
        "security": "security",
        "username": "username",
        "password": "password",
        "from_address": "from_address",
        "to": "to_addresses",
        "ca_file": "ca_certificate_pem",
    },
    "slack": {"webhook_url": "webhook_url"},
    "teams": {"webhook_url": "webhook_url"},
}


def _channel_from_args(args: argparse.Namespace, kind: str) -> tuple[pb.Channel, list[str]]:
    """The channel the flags describe and the mask paths they name."""
    channel = pb.Channel()
    paths: list[str] = []
    if args.name is not None:
        channel.display_name = args.name
        paths.append("display_name")
    if args.disabled is not None:
        channel.disabled = args.disabled
        paths.append("disabled")
    if args.default is not None:
        channel.default = args.default
        paths.append("default")
    config = getattr(channel, kind)
    config.SetInParent()
    for option in {o for k in KINDS for o in _KIND_OPTIONS[k]}:
        value = getattr(args, option, None)
        if value is None:
            continue
        target = _KIND_OPTIONS[kind].get(option)
        if target is None:
            raise CliError(f"--{option.replace('_', '-')} does not apply to {kind}", code=2)
        if option == "header":
            for item in value:
                name, sep, text = item.partition("=")
                if not sep:
                    raise CliError(f"bad header {item!r}: use NAME=VALUE", code=2)
                config.headers[name.strip()] = text.strip()
        elif option == "ca_file":
            with open(value, encoding="utf-8") as handle:
                config.ca_certificate_pem = handle.read()
        elif option == "security":
            config.security = enum_value(pb.SmtpSecurity, "SMTP_SECURITY_", value, "security")
        elif isinstance(value, list):
            getattr(config, target).extend(value)
        else:
            setattr(config, target, value)
        paths.append(f"{kind}.{target}")
    if args.quiet is not None or args.quiet_zone or args.quiet_hold_critical:
        channel.quiet_hours.time_zone = args.quiet_zone or ""
        channel.quiet_hours.hold_critical = bool(args.quiet_hold_critical)
        channel.quiet_hours.ranges.extend(_quiet_range(r) for r in args.quiet or [])
        paths.append("quiet_hours")
    if args.rate:
        count, period = _count_per(args.rate, "rate")
        channel.rate_limit.max_messages = count
        channel.rate_limit.period.CopyFrom(period)
        paths.append("rate_limit")
    if args.digest:
        count, window = _count_per(args.digest, "digest")
        channel.digest.min_messages = count
        channel.digest.window.CopyFrom(window)
        paths.append("digest")
    if args.subject_template is not None or args.body_template is not None:
        channel.template.subject_template = args.subject_template or ""
        channel.template.body_template = args.body_template or ""
        paths.append("template")
    return channel, paths


def _kind_of(channel: pb.Channel) -> str:
    return enum_name(pb.ChannelKind, channel.kind, "CHANNEL_KIND_")


def _destination(channel: pb.Channel) -> str:
    kind = _kind_of(channel)
    if kind == "webhook":
        return channel.webhook.url
    if kind == "ntfy":
        return f"{channel.ntfy.server_url}/{channel.ntfy.topic}"
    if kind == "smtp":
        return ",".join(channel.smtp.to_addresses)
    return "(secret URL)"


def _channel_rows(channels: Sequence[pb.Channel]) -> list[list[Any]]:
    return [
        [
            c.id,
            c.display_name,
            _kind_of(c),
            _destination(c),
            "disabled" if c.disabled else "enabled",
            enum_name(pb.CircuitState, c.circuit_state, "CIRCUIT_STATE_"),
            "default" if c.default else "",
        ]
        for c in channels
    ]


def channels_create(ctx: CliContext, args: argparse.Namespace) -> int:
    """Create a channel."""
    channel, _ = _channel_from_args(args, args.kind)
    reply = call(
        ctx,
        "CreateChannel",
        api.CreateChannelRequest(request_id=str(uuid.uuid4()), channel=channel),
    )
    print_fields(ctx, reply.channel)
    return 0


def channels_list(ctx: CliContext, args: argparse.Namespace) -> int:
    """List channels."""
    kind = enum_value(pb.ChannelKind, "CHANNEL_KIND_", args.kind, "kind") if args.kind else 0
    request = api.ListChannelsRequest(
        page_size=args.page_size,
        page_token=args.page_token,
        kind=kind,  # type: ignore[arg-type]
    )
    items, token = fetch_pages(ctx, "ListChannels", request, "channels", args.all)
    headers = ["id", "name", "kind", "destination", "state", "circuit", "default"]
    return emit_page(ctx, items, token, "channels", _channel_rows(items), headers)


def channels_show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one channel."""
    reply = call(ctx, "GetChannel", api.GetChannelRequest(channel_id=args.id))
    print_fields(ctx, reply.channel, {"default": reply.channel.default})
    return 0


def channels_update(ctx: CliContext, args: argparse.Namespace) -> int:
    """Change the fields given as flags."""
    current = call(ctx, "GetChannel", api.GetChannelRequest(channel_id=args.id)).channel
    channel, paths = _channel_from_args(args, _kind_of(current))
    if not paths:
        raise CliError("nothing to change: pass at least one option", code=2)
    channel.id, channel.etag = current.id, current.etag
    reply = call(
        ctx,
        "UpdateChannel",
        api.UpdateChannelRequest(
            request_id=str(uuid.uuid4()),
            channel=channel,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
    )
    print_fields(ctx, reply.channel)
    return 0


def channels_delete(ctx: CliContext, args: argparse.Namespace) -> int:
    """Delete a channel."""
    call(
        ctx,
        "DeleteChannel",
        api.DeleteChannelRequest(request_id=str(uuid.uuid4()), channel_id=args.id),
    )
    emit(ctx, {"deleted": args.id}, rows=[[args.id]], headers=["deleted"])
    return 0


def channels_test(ctx: CliContext, args: argparse.Namespace) -> int:
    """Send a test notification and report the outcome."""
    reply = call(
        ctx,
        "SendTestNotification",
        api.SendTestNotificationRequest(
            request_id=str(uuid.uuid4()), channel_id=args.id, message=args.message or ""
        ),
    )
    print_fields(ctx, reply)
    return 0 if reply.status == pb.DELIVERY_STATUS_DELIVERED else 1


def channels_preview(ctx: CliContext, args: argparse.Namespace) -> int:
    """Render a sample event through a channel's templates (nothing is sent)."""
    request = api.PreviewChannelMessageRequest(
        channel_id=args.id or "",
        event_type=parse_event_type(args.event),  # type: ignore[arg-type]
        template=pb.MessageTemplate(
            subject_template=args.subject_template or "", body_template=args.body_template or ""
        ),
    )
    if args.kind:
        request.kind = enum_value(pb.ChannelKind, "CHANNEL_KIND_", args.kind, "kind")  # type: ignore[assignment]
    reply = call(ctx, "PreviewChannelMessage", request)
    if ctx.json:
        emit(ctx, reply)
    else:
        print(f"title: {reply.title}\n\n{reply.text}\n\n--- payload ({reply.payload_content_type})")
        print(reply.payload)
    return 0


def register(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add ``channels`` to the ``triage`` command."""
    channels = subparsers.add_parser("channels", help="notification channels")
    sub = channels.add_subparsers(dest="action", metavar="ACTION", required=True)
    _add_channel_options(
        add_command(sub, "create", channels_create, parents, "create"), create=True
    )
    lister = add_command(sub, "list", channels_list, parents, "list")
    lister.add_argument("--kind", choices=KINDS)
    add_list_options(lister)
    add_command(sub, "show", channels_show, parents, "show one").add_argument("id")
    updater = add_command(sub, "update", channels_update, parents, "change fields")
    updater.add_argument("id")
    _add_channel_options(updater, create=False)
    add_command(sub, "delete", channels_delete, parents, "delete").add_argument("id")
    preview = add_command(
        sub, "preview", channels_preview, parents, "render a sample event (sends nothing)"
    )
    preview.add_argument("id", nargs="?", help="the channel (or give --kind)")
    preview.add_argument("--event", default="ticket.opened", help="event type, e.g. sla.breached")
    preview.add_argument("--kind", choices=KINDS, help="render for a kind instead of a channel")
    preview.add_argument("--subject-template", help="try this subject template (unsaved)")
    preview.add_argument("--body-template", help="try this body template (unsaved)")
    tester = add_command(sub, "test", channels_test, parents, "send a test notification")
    tester.add_argument("id")
    tester.add_argument("--message", default="")
