"""``triage channels``, ``triage notify-policies`` and ``triage deliveries``."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    enum_name,
    parse_duration,
    print_fields,
    short_time,
)
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb
from triage.types.v1 import time_pb2

Handler = Callable[[CliContext, argparse.Namespace], int]
KINDS = ("webhook", "ntfy", "smtp", "slack", "teams")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _call(ctx: CliContext, method: str, request: Message) -> Any:
    return ctx.call("notify", api_grpc.NotifyServiceStub, method, request)


def _enum(enum_type: Any, prefix: str, text: str, what: str) -> int:
    name = prefix + text.strip().upper().replace(".", "_").replace("-", "_")
    try:
        return int(enum_type.Value(name))
    except ValueError as exc:
        raise CliError(f"unknown {what} {text!r}", code=2) from exc


def _event_type(text: str) -> int:
    return _enum(pb.NotificationEventType, "NOTIFICATION_EVENT_TYPE_", text, "event type")


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
            config.security = _enum(pb.SmtpSecurity, "SMTP_SECURITY_", value, "security")
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
        ]
        for c in channels
    ]


def _pages(
    ctx: CliContext, method: str, request: Any, field: str, all_pages: bool
) -> tuple[list[Any], str]:
    items: list[Any] = []
    while True:
        reply = _call(ctx, method, request)
        items += list(getattr(reply, field))
        if not all_pages or not reply.next_page_token:
            return items, reply.next_page_token
        request.page_token = reply.next_page_token


def _list_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page-size", type=int, default=0)
    parser.add_argument("--page-token", default="")
    parser.add_argument("--all", action="store_true", help="follow every page")


def _emit_page(
    ctx: CliContext,
    items: Sequence[Message],
    token: str,
    key: str,
    rows: list[list[Any]],
    headers: Sequence[str],
) -> int:
    from triage.cli.common import to_dict

    emit(
        ctx,
        {key: [to_dict(i) for i in items], "next_page_token": token},
        rows=rows,
        headers=headers,
    )
    if token and not ctx.json:
        print(f"next page: --page-token {token}")
    return 0


# -- channels -----------------------------------------------------------------------------


def channels_create(ctx: CliContext, args: argparse.Namespace) -> int:
    """Create a channel."""
    channel, _ = _channel_from_args(args, args.kind)
    reply = _call(
        ctx,
        "CreateChannel",
        api.CreateChannelRequest(request_id=str(uuid.uuid4()), channel=channel),
    )
    print_fields(ctx, reply.channel)
    return 0


def channels_list(ctx: CliContext, args: argparse.Namespace) -> int:
    """List channels."""
    kind = _enum(pb.ChannelKind, "CHANNEL_KIND_", args.kind, "kind") if args.kind else 0
    request = api.ListChannelsRequest(
        page_size=args.page_size,
        page_token=args.page_token,
        kind=kind,  # type: ignore[arg-type]
    )
    items, token = _pages(ctx, "ListChannels", request, "channels", args.all)
    headers = ["id", "name", "kind", "destination", "state", "circuit"]
    return _emit_page(ctx, items, token, "channels", _channel_rows(items), headers)


def channels_show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one channel."""
    reply = _call(ctx, "GetChannel", api.GetChannelRequest(channel_id=args.id))
    print_fields(ctx, reply.channel)
    return 0


def channels_update(ctx: CliContext, args: argparse.Namespace) -> int:
    """Change the fields given as flags."""
    current = _call(ctx, "GetChannel", api.GetChannelRequest(channel_id=args.id)).channel
    channel, paths = _channel_from_args(args, _kind_of(current))
    if not paths:
        raise CliError("nothing to change: pass at least one option", code=2)
    channel.id, channel.etag = current.id, current.etag
    reply = _call(
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
    _call(
        ctx,
        "DeleteChannel",
        api.DeleteChannelRequest(request_id=str(uuid.uuid4()), channel_id=args.id),
    )
    emit(ctx, {"deleted": args.id}, rows=[[args.id]], headers=["deleted"])
    return 0


def channels_test(ctx: CliContext, args: argparse.Namespace) -> int:
    """Send a test notification and report the outcome."""
    reply = _call(
        ctx,
        "SendTestNotification",
        api.SendTestNotificationRequest(
            request_id=str(uuid.uuid4()), channel_id=args.id, message=args.message or ""
        ),
    )
    print_fields(ctx, reply)
    return 0 if reply.status == pb.DELIVERY_STATUS_DELIVERED else 1


# -- policies -----------------------------------------------------------------------------


def _add_policy_options(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--name", required=create)
    parser.add_argument(
        "--event",
        action="append",
        default=None,
        required=create,
        help="event type, e.g. ticket.opened, sla.breached, alert.routed (repeat)",
    )
    parser.add_argument("--channel", action="append", default=None, required=create)
    parser.add_argument("--disabled", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--min-severity", help="info, low, medium, high, critical")
    parser.add_argument("--priority", action="append", default=None, help="P1..P5 (repeat)")
    parser.add_argument("--client", action="append", default=None)
    parser.add_argument("--queue", action="append", default=None)
    parser.add_argument("--rule", action="append", default=None)


def _policy_from_args(args: argparse.Namespace) -> tuple[pb.NotificationPolicy, list[str]]:
    policy = pb.NotificationPolicy()
    paths: list[str] = []
    if args.name is not None:
        policy.display_name = args.name
        paths.append("display_name")
    if args.disabled is not None:
        policy.disabled = args.disabled
        paths.append("disabled")
    if args.event is not None:
        policy.event_types.extend(_event_type(e) for e in args.event)  # type: ignore[misc]
        paths.append("event_types")
    if args.channel is not None:
        policy.channel_ids.extend(args.channel)
        paths.append("channel_ids")
    f = policy.filter
    if args.min_severity:
        from triage.ingest.v1 import resources_pb2 as ingest_pb

        f.min_severity = _enum(  # type: ignore[assignment]
            ingest_pb.Severity, "SEVERITY_", args.min_severity, "severity"
        )
    for value in args.priority or []:
        from triage.tickets.v1 import resources_pb2 as tickets_pb

        f.priorities.append(
            _enum(tickets_pb.Priority, "PRIORITY_", value, "priority")  # type: ignore[arg-type]
        )
    f.client_ids.extend(args.client or [])
    f.queues.extend(args.queue or [])
    f.rule_ids.extend(args.rule or [])
    if any((args.min_severity, args.priority, args.client, args.queue, args.rule)):
        paths.append("filter")
    return policy, paths


def _policy_rows(policies: Sequence[pb.NotificationPolicy]) -> list[list[Any]]:
    return [
        [
            p.id,
            p.display_name,
            ",".join(
                enum_name(pb.NotificationEventType, t, "NOTIFICATION_EVENT_TYPE_")
                for t in p.event_types
            ),
            len(p.channel_ids),
            "disabled" if p.disabled else "enabled",
        ]
        for p in policies
    ]


def policies_create(ctx: CliContext, args: argparse.Namespace) -> int:
    """Create a notification policy."""
    policy, _ = _policy_from_args(args)
    reply = _call(
        ctx,
        "CreateNotificationPolicy",
        api.CreateNotificationPolicyRequest(
            request_id=str(uuid.uuid4()), notification_policy=policy
        ),
    )
    print_fields(ctx, reply.notification_policy)
    return 0


def policies_list(ctx: CliContext, args: argparse.Namespace) -> int:
    """List notification policies."""
    request = api.ListNotificationPoliciesRequest(
        page_size=args.page_size, page_token=args.page_token, channel_id=args.channel or ""
    )
    items, token = _pages(
        ctx, "ListNotificationPolicies", request, "notification_policies", args.all
    )
    headers = ["id", "name", "events", "channels", "state"]
    return _emit_page(ctx, items, token, "notification_policies", _policy_rows(items), headers)


def policies_show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one notification policy."""
    reply = _call(
        ctx,
        "GetNotificationPolicy",
        api.GetNotificationPolicyRequest(notification_policy_id=args.id),
    )
    print_fields(ctx, reply.notification_policy)
    return 0


def policies_update(ctx: CliContext, args: argparse.Namespace) -> int:
    """Change the fields given as flags."""
    policy, paths = _policy_from_args(args)
    if not paths:
        raise CliError("nothing to change: pass at least one option", code=2)
    current = _call(
        ctx,
        "GetNotificationPolicy",
        api.GetNotificationPolicyRequest(notification_policy_id=args.id),
    ).notification_policy
    policy.id, policy.etag = current.id, current.etag
    reply = _call(
        ctx,
        "UpdateNotificationPolicy",
        api.UpdateNotificationPolicyRequest(
            request_id=str(uuid.uuid4()),
            notification_policy=policy,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
        ),
    )
    print_fields(ctx, reply.notification_policy)
    return 0


def policies_delete(ctx: CliContext, args: argparse.Namespace) -> int:
    """Delete a notification policy."""
    _call(
        ctx,
        "DeleteNotificationPolicy",
        api.DeleteNotificationPolicyRequest(
            request_id=str(uuid.uuid4()), notification_policy_id=args.id
        ),
    )
    emit(ctx, {"deleted": args.id}, rows=[[args.id]], headers=["deleted"])
    return 0


# -- deliveries ---------------------------------------------------------------------------


def _stamp(text: str) -> timestamp_pb2.Timestamp:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"bad time {text!r}: use ISO 8601", code=2) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _delivery_rows(deliveries: Sequence[pb.Delivery]) -> list[list[Any]]:
    return [
        [
            d.id,
            short_time(d.create_time),
            enum_name(pb.NotificationEventType, d.event_type, "NOTIFICATION_EVENT_TYPE_")
            if d.event_type
            else "digest",
            d.destination,
            enum_name(pb.DeliveryStatus, d.status, "DELIVERY_STATUS_"),
            d.attempt_count,
            d.subject[:60],
        ]
        for d in deliveries
    ]


def deliveries_list(ctx: CliContext, args: argparse.Namespace) -> int:
    """List deliveries, newest first."""
    request = api.ListDeliveriesRequest(
        page_size=args.page_size,
        page_token=args.page_token,
        channel_id=args.channel or "",
        ticket_id=args.ticket or "",
        event_id=args.event or "",
    )
    request.statuses.extend(
        _enum(pb.DeliveryStatus, "DELIVERY_STATUS_", s, "status")  # type: ignore[misc]
        for s in args.status or []
    )
    request.event_types.extend(_event_type(t) for t in args.event_type or [])  # type: ignore[misc]
    if args.since:
        request.start_time.CopyFrom(_stamp(args.since))
    if args.until:
        request.end_time.CopyFrom(_stamp(args.until))
    items, token = _pages(ctx, "ListDeliveries", request, "deliveries", args.all)
    headers = ["id", "created", "event", "destination", "status", "attempts", "subject"]
    return _emit_page(ctx, items, token, "deliveries", _delivery_rows(items), headers)


def deliveries_show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one delivery with its attempts."""
    reply = _call(ctx, "GetDelivery", api.GetDeliveryRequest(delivery_id=args.id))
    print_fields(ctx, reply.delivery)
    return 0


def deliveries_retry(ctx: CliContext, args: argparse.Namespace) -> int:
    """Queue a failed or dead delivery for an attempt now."""
    reply = _call(
        ctx,
        "RetryDelivery",
        api.RetryDeliveryRequest(request_id=str(uuid.uuid4()), delivery_id=args.id),
    )
    print_fields(ctx, reply.delivery)
    return 0


def _command(
    sub: Any,
    name: str,
    handler: Handler,
    parents: Sequence[argparse.ArgumentParser],
    help_text: str,
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, parents=list(parents), help=help_text)
    parser.set_defaults(handler=handler)
    return parser


def register(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add ``channels``, ``notify-policies`` and ``deliveries`` to the ``triage`` command."""
    channels = subparsers.add_parser("channels", help="notification channels")
    sub = channels.add_subparsers(dest="action", metavar="ACTION", required=True)
    _add_channel_options(_command(sub, "create", channels_create, parents, "create"), create=True)
    lister = _command(sub, "list", channels_list, parents, "list")
    lister.add_argument("--kind", choices=KINDS)
    _list_options(lister)
    _command(sub, "show", channels_show, parents, "show one").add_argument("id")
    updater = _command(sub, "update", channels_update, parents, "change fields")
    updater.add_argument("id")
    _add_channel_options(updater, create=False)
    _command(sub, "delete", channels_delete, parents, "delete").add_argument("id")
    tester = _command(sub, "test", channels_test, parents, "send a test notification")
    tester.add_argument("id")
    tester.add_argument("--message", default="")

    policies = subparsers.add_parser("notify-policies", help="notification policies")
    sub = policies.add_subparsers(dest="action", metavar="ACTION", required=True)
    _add_policy_options(_command(sub, "create", policies_create, parents, "create"), create=True)
    lister = _command(sub, "list", policies_list, parents, "list")
    lister.add_argument("--channel", help="only policies delivering to this channel")
    _list_options(lister)
    _command(sub, "show", policies_show, parents, "show one").add_argument("id")
    updater = _command(sub, "update", policies_update, parents, "change fields")
    updater.add_argument("id")
    _add_policy_options(updater, create=False)
    _command(sub, "delete", policies_delete, parents, "delete").add_argument("id")

    deliveries = subparsers.add_parser("deliveries", help="notification deliveries")
    sub = deliveries.add_subparsers(dest="action", metavar="ACTION", required=True)
    lister = _command(sub, "list", deliveries_list, parents, "list, newest first")
    lister.add_argument("--channel")
    lister.add_argument("--status", action="append", help="queued, failed, dead... (repeat)")
    lister.add_argument("--event-type", action="append", help="e.g. ticket.opened (repeat)")
    lister.add_argument("--ticket")
    lister.add_argument("--event")
    lister.add_argument("--since", help="created at or after (ISO 8601)")
    lister.add_argument("--until", help="created before (ISO 8601)")
    _list_options(lister)
    _command(sub, "show", deliveries_show, parents, "show one with attempts").add_argument("id")
    _command(sub, "retry", deliveries_retry, parents, "retry now").add_argument("id")
