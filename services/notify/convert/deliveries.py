"""Deliveries and attempts: stored records -> protos."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from google.protobuf import duration_pb2

from services.notify.convert.channels import KIND_ENUM
from services.notify.convert.policies import EVENT_TYPE_ENUM
from services.notify.domain.model import ChannelKind
from services.notify.domain.records import AttemptRow, DeliveryRow
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import to_timestamp


def _duration(seconds: float | None) -> duration_pb2.Duration | None:
    if seconds is None:
        return None
    out = duration_pb2.Duration()
    out.FromTimedelta(timedelta(seconds=seconds))
    return out


def status_enum(status: str) -> int:
    """``queued`` -> DELIVERY_STATUS_QUEUED."""
    return int(pb.DeliveryStatus.Value(f"DELIVERY_STATUS_{status.upper()}"))


def error_class_enum(error_class: str | None) -> int:
    """``server_error`` -> ERROR_CLASS_SERVER_ERROR (None: unspecified)."""
    if not error_class:
        return pb.ERROR_CLASS_UNSPECIFIED
    return int(pb.ErrorClass.Value(f"ERROR_CLASS_{error_class.upper()}"))


def attempt_to_proto(row: AttemptRow) -> pb.DeliveryAttempt:
    """The proto of a stored attempt."""
    attempt = pb.DeliveryAttempt(
        number=row.number,
        start_time=to_timestamp(row.started_at),
        latency=_duration(row.latency_seconds),
        success=row.success,
        error_class=error_class_enum(row.error_class),  # type: ignore[arg-type]
        error_message=row.error_message or "",
        response_code=row.response_code or 0,
        provider_request_id=row.provider_request_id or "",
    )
    retry_after = _duration(row.retry_after_seconds)
    if retry_after is not None:
        attempt.retry_after.CopyFrom(retry_after)
    return attempt


def delivery_to_proto(row: DeliveryRow, attempts: Sequence[AttemptRow] = ()) -> pb.Delivery:
    """The proto of a stored delivery with the given attempts."""
    delivery = pb.Delivery(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        channel_id=str(row.channel_id),
        channel_kind=KIND_ENUM[ChannelKind(row.channel_kind)],  # type: ignore[arg-type]
        destination=row.destination,
        policy_id=str(row.policy_id or ""),
        rule_id=row.rule_id or "",
        event_id=row.event_id,
        event_type=EVENT_TYPE_ENUM.get(row.event_type, 0),  # type: ignore[arg-type]
        idempotency_key=row.idempotency_key,
        ticket_id=row.ticket_id or "",
        alert_id=row.alert_id or "",
        subject=row.subject,
        status=status_enum(row.status),  # type: ignore[arg-type]
        attempt_count=row.attempt_count,
        attempts=[attempt_to_proto(a) for a in attempts],
        digest_delivery_id=str(row.digest_delivery_id or ""),
        dead_reason=row.dead_reason or "",
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )
    if row.next_attempt_at is not None and row.status in ("queued", "failed"):
        delivery.next_attempt_time.CopyFrom(to_timestamp(row.next_attempt_at))
    if row.hold_until is not None:
        delivery.hold_until_time.CopyFrom(to_timestamp(row.hold_until))
    if row.delivered_at is not None:
        delivery.deliver_time.CopyFrom(to_timestamp(row.delivered_at))
    return delivery
