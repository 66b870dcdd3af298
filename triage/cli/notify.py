"""``triage notify-policies`` and ``triage deliveries`` (and ``triage channels``, in
:mod:`triage.cli.channels`)."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2

from triage.cli import channels
from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    enum_name,
    print_fields,
    short_time,
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

# -- policies -----------------------------------------------------------------------------


def _add_policy_options(parser: argparse.ArgumentParser, *, create: bool) -> None:
    parser.add_argument("--name", required=create)
    parser.add_argument(
        "--event",
        action="append",
        default=None,
        required=create,
        help="event type, e.g. ticket.opened, sla.breached, sla.cancelled, alert.routed (repeat)",
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
        policy.event_types.extend(parse_event_type(e) for e in args.event)  # type: ignore[misc]
        paths.append("event_types")
    if args.channel is not None:
        policy.channel_ids.extend(args.channel)
        paths.append("channel_ids")
    f = policy.filter
    if args.min_severity:
        from triage.ingest.v1 import resources_pb2 as ingest_pb

        f.min_severity = enum_value(  # type: ignore[assignment]
            ingest_pb.Severity, "SEVERITY_", args.min_severity, "severity"
        )
    for value in args.priority or []:
        from triage.tickets.v1 import resources_pb2 as tickets_pb

        f.priorities.append(
            enum_value(tickets_pb.Priority, "PRIORITY_", value, "priority")  # type: ignore[arg-type]
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
    reply = call(
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
    items, token = fetch_pages(
        ctx, "ListNotificationPolicies", request, "notification_policies", args.all
    )
    headers = ["id", "name", "events", "channels", "state"]
    return emit_page(ctx, items, token, "notification_policies", _policy_rows(items), headers)


def policies_show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one notification policy."""
    reply = call(
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
    current = call(
        ctx,
        "GetNotificationPolicy",
        api.GetNotificationPolicyRequest(notification_policy_id=args.id),
    ).notification_policy
    policy.id, policy.etag = current.id, current.etag
    reply = call(
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
    call(
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
        enum_value(pb.DeliveryStatus, "DELIVERY_STATUS_", s, "status")  # type: ignore[misc]
        for s in args.status or []
    )
    request.event_types.extend(parse_event_type(t) for t in args.event_type or [])  # type: ignore[misc]
    if args.since:
        request.start_time.CopyFrom(_stamp(args.since))
    if args.until:
        request.end_time.CopyFrom(_stamp(args.until))
    items, token = fetch_pages(ctx, "ListDeliveries", request, "deliveries", args.all)
    headers = ["id", "created", "event", "destination", "status", "attempts", "subject"]
    return emit_page(ctx, items, token, "deliveries", _delivery_rows(items), headers)


def deliveries_show(ctx: CliContext, args: argparse.Namespace) -> int:
    """Show one delivery with its attempts."""
    reply = call(ctx, "GetDelivery", api.GetDeliveryRequest(delivery_id=args.id))
    print_fields(ctx, reply.delivery)
    return 0


def deliveries_retry(ctx: CliContext, args: argparse.Namespace) -> int:
    """Queue a failed or dead delivery for an attempt now."""
    reply = call(
        ctx,
        "RetryDelivery",
        api.RetryDeliveryRequest(request_id=str(uuid.uuid4()), delivery_id=args.id),
    )
    print_fields(ctx, reply.delivery)
    return 0


def register(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add ``channels``, ``notify-policies`` and ``deliveries`` to the ``triage`` command."""
    channels.register(subparsers, parents)

    policies = subparsers.add_parser("notify-policies", help="notification policies")
    sub = policies.add_subparsers(dest="action", metavar="ACTION", required=True)
    _add_policy_options(add_command(sub, "create", policies_create, parents, "create"), create=True)
    lister = add_command(sub, "list", policies_list, parents, "list")
    lister.add_argument("--channel", help="only policies delivering to this channel")
    add_list_options(lister)
    add_command(sub, "show", policies_show, parents, "show one").add_argument("id")
    updater = add_command(sub, "update", policies_update, parents, "change fields")
    updater.add_argument("id")
    _add_policy_options(updater, create=False)
    add_command(sub, "delete", policies_delete, parents, "delete").add_argument("id")

    deliveries = subparsers.add_parser("deliveries", help="notification deliveries")
    sub = deliveries.add_subparsers(dest="action", metavar="ACTION", required=True)
    lister = add_command(sub, "list", deliveries_list, parents, "list, newest first")
    lister.add_argument("--channel")
    lister.add_argument("--status", action="append", help="queued, failed, dead... (repeat)")
    lister.add_argument("--event-type", action="append", help="e.g. ticket.opened (repeat)")
    lister.add_argument("--ticket")
    lister.add_argument("--event")
    lister.add_argument("--since", help="created at or after (ISO 8601)")
    lister.add_argument("--until", help="created before (ISO 8601)")
    add_list_options(lister)
    add_command(sub, "show", deliveries_show, parents, "show one with attempts").add_argument("id")
    add_command(sub, "retry", deliveries_retry, parents, "retry now").add_argument("id")
