"""Jinja filters and globals: enum labels, times, durations, for every template."""

from __future__ import annotations

import uuid
from typing import Any

from jinja2 import Environment

from services.console import format as fmt
from triage.ingest.v1 import resources_pb2 as ingest_res
from triage.notify.v1 import resources_pb2 as notify_res
from triage.rules.v1 import resources_pb2 as rules_res
from triage.sla.v1 import resources_pb2 as sla_res
from triage.tickets.v1 import resources_pb2 as tickets_res

#: Enum name -> (enum type, value prefix), for ``value|label("priority")``.
ENUMS: dict[str, tuple[Any, str]] = {
    "priority": (tickets_res.Priority, "PRIORITY_"),
    "status": (tickets_res.TicketStatus, "TICKET_STATUS_"),
    "visibility": (tickets_res.CommentVisibility, "COMMENT_VISIBILITY_"),
    "history": (tickets_res.HistoryKind, "HISTORY_KIND_"),
    "cause": (tickets_res.ChangeCause, "CHANGE_CAUSE_"),
    "close_reason": (tickets_res.CloseReason, "CLOSE_REASON_"),
    "provider": (ingest_res.Provider, "PROVIDER_"),
    "severity": (ingest_res.Severity, "SEVERITY_"),
    "kind": (ingest_res.AlertKind, "ALERT_KIND_"),
    "decision": (rules_res.DecisionKind, "DECISION_KIND_"),
    "ticket_action": (rules_res.TicketAction, "TICKET_ACTION_"),
    "window_state": (rules_res.MaintenanceWindowState, "MAINTENANCE_WINDOW_STATE_"),
    "sla_state": (sla_res.SlaState, "SLA_STATE_"),
    "target": (sla_res.SlaTargetKind, "SLA_TARGET_KIND_"),
    "audit": (sla_res.SlaAuditKind, "SLA_AUDIT_KIND_"),
    "channel_kind": (notify_res.ChannelKind, "CHANNEL_KIND_"),
    "delivery": (notify_res.DeliveryStatus, "DELIVERY_STATUS_"),
    "event_type": (notify_res.NotificationEventType, "NOTIFICATION_EVENT_TYPE_"),
    "error_class": (notify_res.ErrorClass, "ERROR_CLASS_"),
    "circuit": (notify_res.CircuitState, "CIRCUIT_STATE_"),
}


def _label(value: int, enum: str) -> str:
    enum_type, prefix = ENUMS[enum]
    text = fmt.label(enum_type, value, prefix)
    return text.upper() if enum == "priority" else text


def _slug(value: int, enum: str) -> str:
    enum_type, prefix = ENUMS[enum]
    return fmt.slug(enum_type, value, prefix)


def _choices(enum: str) -> list[tuple[str, str]]:
    """``(slug, label)`` of every defined value but the zero one, for a <select>."""
    enum_type, prefix = ENUMS[enum]
    return [(fmt.slug(enum_type, v, prefix), _label(v, enum)) for v in enum_type.values() if v != 0]


def _ts(stamp: Any) -> str:
    return fmt.show_time(fmt.when(stamp))


def _tsiso(stamp: Any) -> str:
    return fmt.iso(fmt.when(stamp))


def _seconds(duration: Any) -> str:
    if duration is None:
        return ""
    return fmt.duration_text(duration.seconds + duration.nanos / 1e9)


def install(env: Environment) -> None:
    """Register the filters and globals on ``env``."""
    env.filters.update(
        label=_label,
        slug=_slug,
        ts=_ts,
        tsiso=_tsiso,
        dur=_seconds,
        when=fmt.when,
        show_time=fmt.show_time,
        iso=fmt.iso,
    )
    env.globals.update(choices=_choices, request_id=lambda: str(uuid.uuid4()))
