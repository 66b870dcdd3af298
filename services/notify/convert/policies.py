"""Notification policies: protos <-> stored values, and validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from services.notify.domain.policy import EVENT_TYPES
from services.notify.domain.records import PolicyDraft, PolicyRow
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import FieldViolation, InvalidArgument, to_timestamp

EVENT_TYPE_ENUM: dict[str, int] = {
    "alert.routed": pb.NOTIFICATION_EVENT_TYPE_ALERT_ROUTED,
    "ticket.opened": pb.NOTIFICATION_EVENT_TYPE_TICKET_OPENED,
    "ticket.occurred": pb.NOTIFICATION_EVENT_TYPE_TICKET_OCCURRED,
    "ticket.updated": pb.NOTIFICATION_EVENT_TYPE_TICKET_UPDATED,
    "ticket.commented": pb.NOTIFICATION_EVENT_TYPE_TICKET_COMMENTED,
    "ticket.closed": pb.NOTIFICATION_EVENT_TYPE_TICKET_CLOSED,
    "ticket.reopened": pb.NOTIFICATION_EVENT_TYPE_TICKET_REOPENED,
    "sla.threshold": pb.NOTIFICATION_EVENT_TYPE_SLA_THRESHOLD,
    "sla.breached": pb.NOTIFICATION_EVENT_TYPE_SLA_BREACHED,
    "sla.cancelled": pb.NOTIFICATION_EVENT_TYPE_SLA_CANCELLED,
    "notify.channel_failing": pb.NOTIFICATION_EVENT_TYPE_CHANNEL_FAILING,
    "alert.reset_failed": pb.NOTIFICATION_EVENT_TYPE_ALERT_RESET_FAILED,
}


ENUM_EVENT_TYPE = {v: k for k, v in EVENT_TYPE_ENUM.items()}
assert set(EVENT_TYPE_ENUM) == set(EVENT_TYPES)


def policy_violations(policy: pb.NotificationPolicy, known_channels: set[str]) -> None:
    """Raise INVALID_ARGUMENT unless the policy can work."""
    violations: list[FieldViolation] = []
    p = "notification_policy"
    if not policy.display_name.strip():
        violations.append(FieldViolation(f"{p}.display_name", "is required"))
    if not policy.event_types:
        violations.append(FieldViolation(f"{p}.event_types", "at least one is required"))
    for i, value in enumerate(policy.event_types):
        if value not in ENUM_EVENT_TYPE:
            violations.append(FieldViolation(f"{p}.event_types[{i}]", "unknown event type"))
    if not policy.channel_ids:
        violations.append(FieldViolation(f"{p}.channel_ids", "at least one is required"))
    for i, channel_id in enumerate(policy.channel_ids):
        if channel_id not in known_channels:
            violations.append(FieldViolation(f"{p}.channel_ids[{i}]", "no such channel"))
    f = policy.filter
    if f.min_severity and not 1 <= f.min_severity <= 5:
        violations.append(FieldViolation(f"{p}.filter.min_severity", "unknown severity"))
    for i, priority in enumerate(f.priorities):
        if not 1 <= priority <= 5:
            violations.append(FieldViolation(f"{p}.filter.priorities[{i}]", "unknown priority"))
    if violations:
        raise InvalidArgument("invalid notification policy", violations=violations)


def filter_to_json(f: pb.NotificationFilter) -> dict[str, Any]:
    """A filter as stored (enums as numbers)."""
    return {
        "min_severity": int(f.min_severity),
        "priorities": [int(x) for x in f.priorities],
        "client_ids": list(f.client_ids),
        "queues": list(f.queues),
        "rule_ids": list(f.rule_ids),
    }


def policy_to_proto(row: PolicyRow) -> pb.NotificationPolicy:
    """The proto of a stored policy row."""
    f = row.filter or {}
    return pb.NotificationPolicy(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        display_name=row.display_name,
        disabled=row.disabled,
        event_types=[EVENT_TYPE_ENUM[t] for t in row.event_types if t in EVENT_TYPE_ENUM],  # type: ignore[misc]
        filter=pb.NotificationFilter(
            min_severity=int(f.get("min_severity", 0)),  # type: ignore[arg-type]
            priorities=[int(x) for x in f.get("priorities", [])],  # type: ignore[misc]
            client_ids=list(f.get("client_ids", [])),
            queues=list(f.get("queues", [])),
            rule_ids=list(f.get("rule_ids", [])),
        ),
        channel_ids=[str(c) for c in row.channel_ids],
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        etag=str(row.version),
    )


def policy_draft(policy: pb.NotificationPolicy) -> PolicyDraft:
    """The stored column values a request's policy asks for."""
    return PolicyDraft(
        display_name=policy.display_name.strip(),
        disabled=policy.disabled,
        event_types=[ENUM_EVENT_TYPE.get(int(t), "") for t in policy.event_types],
        filter=filter_to_json(policy.filter),
        channel_ids=list(dict.fromkeys(policy.channel_ids)),
    )


def policy_proto_of(draft: PolicyDraft) -> pb.NotificationPolicy:
    """Just enough of a policy for validation."""
    out = pb.NotificationPolicy(display_name=draft.display_name, channel_ids=draft.channel_ids)
    for t in draft.event_types:
        out.event_types.append(EVENT_TYPE_ENUM.get(t, -1))  # type: ignore[arg-type]
    out.filter.min_severity = draft.filter.get("min_severity", 0)
    out.filter.priorities.extend(draft.filter.get("priorities", []))
    return out


def patched_policy(row: PolicyRow, asked: PolicyDraft, paths: Sequence[str]) -> PolicyDraft:
    """The stored policy's values with the asked ones at ``paths``."""
    draft = PolicyDraft(
        display_name=row.display_name,
        disabled=row.disabled,
        event_types=list(row.event_types),
        filter=dict(row.filter or {}),
        channel_ids=[str(c) for c in row.channel_ids],
    )
    heads = {path.split(".", 1)[0] for path in paths}
    return replace(draft, **{head: getattr(asked, head) for head in heads})
