"""Protobuf <-> ingest domain: the one place that knows both."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf import json_format, wrappers_pb2
from google.protobuf.message import Message

from services.ingest.domain.alert_events import StoredAlert
from services.ingest.domain.alerts import Provider
from services.ingest.domain.integrations import Integration, IntegrationSettings
from services.ingest.domain.polling import PollRow
from services.ingest.domain.records import (
    PROVIDER_CAPABILITIES,
    AlertDraft,
    AlertRecord,
    WriteResult,
)
from services.ingest.domain.tenants import Tenant
from services.ingest.domain.tokens import IssuedToken
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.runtime import IdempotentReply, SecretBox, from_timestamp, to_timestamp

R = TypeVar("R")
M = TypeVar("M", bound=Message)

_RESET_STATES = {
    "not_requested": pb.OUTBOUND_RESET_STATE_NOT_REQUESTED,
    "pending": pb.OUTBOUND_RESET_STATE_PENDING,
    "succeeded": pb.OUTBOUND_RESET_STATE_SUCCEEDED,
    "failed": pb.OUTBOUND_RESET_STATE_FAILED,
    "unsupported": pb.OUTBOUND_RESET_STATE_UNSUPPORTED,
    "skipped": pb.OUTBOUND_RESET_STATE_SKIPPED,
}
RESET_STATE_NAMES = {v: k for k, v in _RESET_STATES.items()}

_TENANT_STATES = {"active": pb.TENANT_STATE_ACTIVE, "deleting": pb.TENANT_STATE_DELETING}


def provider_to_proto(provider: str) -> pb.Provider.ValueType:
    """``ninjaone`` -> PROVIDER_NINJAONE."""
    return pb.Provider.Value(f"PROVIDER_{provider.upper()}")


def provider_from_proto(value: int) -> str:
    """PROVIDER_NINJAONE -> ``ninjaone`` (empty for unspecified)."""
    if value == pb.PROVIDER_UNSPECIFIED:
        return ""
    return pb.Provider.Name(value).removeprefix("PROVIDER_").lower()  # type: ignore[arg-type]


def kind_to_proto(kind: str) -> pb.AlertKind.ValueType:
    """``trigger`` -> ALERT_KIND_TRIGGER."""
    return pb.AlertKind.Value(f"ALERT_KIND_{kind.upper()}")


def kind_from_proto(value: int) -> str:
    """ALERT_KIND_TRIGGER -> ``trigger``."""
    return pb.AlertKind.Name(value).removeprefix("ALERT_KIND_").lower()  # type: ignore[arg-type]


def _ts(value: datetime | None) -> Any:
    return to_timestamp(value) if value is not None else None


def record_to_proto(record: AlertRecord) -> pb.AlertEvent:
    """The proto of a record about to be stored (the ``alert.received`` payload)."""
    a = record.alert
    event = pb.AlertEvent(
        alert_id=record.alert_id,
        tenant_id=record.tenant_id,
        integration_id=record.integration_id,
        provider=provider_to_proto(record.provider),
        kind=kind_to_proto(a.kind.value),
        series_key=record.series_key,
        delivery_key=record.delivery_key,
        source_event_id=a.provider_event_id or "",
        device_id=a.device_id or "",
        device_name=a.device_name or "",
        client_id=a.client_id or "",
        client_name=a.client_name or "",
        site_id=a.site_id or "",
        site_name=a.site_name or "",
        condition=a.condition,
        severity=int(a.severity),  # type: ignore[arg-type]
        raw_severity=a.raw_severity or "",
        summary=a.title,
        message=a.message,
        labels=dict(a.labels),
        received_time=to_timestamp(record.received_at),
        raw_content_type=record.content_type or "",
    )
    if a.occurred_at is not None:
        event.occurred_time.CopyFrom(to_timestamp(a.occurred_at))
    return event


def row_to_proto(row: StoredAlert, *, full: bool = False) -> pb.AlertEvent:
    """The proto of a stored ``alert_events`` row (raw body only in the full view)."""
    event = pb.AlertEvent(
        alert_id=str(row.id),
        tenant_id=str(row.tenant_id),
        integration_id=str(row.integration_id),
        provider=provider_to_proto(row.provider),
        kind=kind_to_proto(row.kind),
        series_key=row.series_key,
        delivery_key=row.delivery_key,
        source_event_id=row.source_event_id or "",
        device_id=row.device_id or "",
        device_name=row.device_name or "",
        client_id=row.client_id or "",
        client_name=row.client_name or "",
        site_id=row.site_id or "",
        site_name=row.site_name or "",
        condition=row.condition,
        severity=row.severity,  # type: ignore[arg-type]
        raw_severity=row.raw_severity or "",
        summary=row.summary,
        message=row.message,
        labels=dict(row.labels or {}),
        received_time=to_timestamp(row.received_at),
        redelivery_count=row.redelivery_count,
        suppressed=row.suppressed,
        suppression_window_id=row.suppression_window_id or "",
        raw_content_type=row.content_type or "",
        outbound_reset=pb.OutboundReset(
            state=_RESET_STATES.get(row.reset_state, pb.OUTBOUND_RESET_STATE_UNSPECIFIED),
            ticket_id=row.reset_ticket_id or "",
            attempt_count=row.reset_attempts,
            last_outcome=row.reset_last_outcome or "",
            last_response_code=row.reset_last_code or 0,
        ),
    )
    if row.occurred_at is not None:
        event.occurred_time.CopyFrom(to_timestamp(row.occurred_at))
    reset = event.outbound_reset
    for field, value in (
        ("last_attempt_time", row.reset_last_attempt_at),
        ("next_attempt_time", row.reset_next_attempt_at),
        ("complete_time", row.reset_completed_at),
    ):
        if value is not None:
            getattr(reset, field).CopyFrom(to_timestamp(value))
    if full:
        event.raw_body = bytes(row.raw_body or b"")
    return event


def draft_from_proto(event: pb.AlertEvent) -> AlertDraft:
    """An already-normalized alert as IngestAlerts received it (checked by the service)."""
    if event.kind == pb.ALERT_KIND_UNSPECIFIED:
        kind = ""
    elif event.kind in pb.AlertKind.values():
        kind = kind_from_proto(event.kind)
    else:
        kind = str(int(event.kind))
    return AlertDraft(
        integration_id=event.integration_id,
        delivery_key=event.delivery_key,
        kind=kind,
        series_key=event.series_key,
        condition=event.condition,
        severity=int(event.severity),
        summary=event.summary,
        message=event.message,
        source_event_id=event.source_event_id,
        device_id=event.device_id,
        device_name=event.device_name,
        client_id=event.client_id,
        client_name=event.client_name,
        site_id=event.site_id,
        site_name=event.site_name,
        raw_severity=event.raw_severity,
        labels=dict(event.labels),
        occurred_at=from_timestamp(event.occurred_time)
        if event.HasField("occurred_time")
        else None,
        raw=event.SerializeToString(),
    )


def settings_to_json(settings: pb.IntegrationSettings) -> dict[str, Any]:
    """Integration settings as stored (the API client secret is stored apart, sealed)."""
    copy = pb.IntegrationSettings()
    copy.CopyFrom(settings)
    copy.api.client_secret = ""
    copy.api.has_client_secret = False
    copy.webhook_signing_secret = ""
    copy.has_webhook_signing_secret = False
    data = json_format.MessageToDict(copy, preserving_proto_field_name=True)
    # Stored even when false: MessageToDict drops proto3 defaults, and the gateway must
    # tell "turned off" from a row that predates the setting (see migration 0004).
    data["allow_query_token"] = settings.allow_query_token
    return data


def settings_from_proto(settings: pb.IntegrationSettings) -> IntegrationSettings:
    """The settings a request gives, as the service checks and stores them."""
    return IntegrationSettings(
        document=settings_to_json(settings),
        time_zone=settings.time_zone,
        max_body_bytes=settings.max_body_bytes,
        has_rate_limit=settings.HasField("rate_limit"),
        requests_per_second=settings.rate_limit.requests_per_second,
        burst=settings.rate_limit.burst,
        api_base_url=settings.api.base_url,
        api_client_secret=settings.api.client_secret,
        webhook_signing_secret=settings.webhook_signing_secret,
    )


def settings_from_json(
    data: Mapping[str, Any], *, has_api_secret: bool, has_signing_secret: bool = False
) -> pb.IntegrationSettings:
    """Integration settings from their stored JSON."""
    settings = json_format.ParseDict(
        dict(data), pb.IntegrationSettings(), ignore_unknown_fields=True
    )
    settings.api.has_client_secret = has_api_secret
    settings.has_webhook_signing_secret = has_signing_secret
    return settings


def integration_to_proto(row: Integration) -> pb.Integration:
    """The proto of an ``integrations`` row (never its secrets)."""
    provider = row.provider
    integration = pb.Integration(
        id=str(row.id),
        tenant_id=str(row.tenant_id),
        provider=provider_to_proto(provider),
        display_name=row.display_name,
        disabled=row.disabled,
        settings=settings_from_json(
            row.settings,
            has_api_secret=row.api_secret is not None,
            has_signing_secret=row.signing_secret is not None,
        ),
        webhook_path=f"/v1/webhooks/{provider}/{row.id}",
        capabilities=[
            pb.ProviderCapability.Value(f"PROVIDER_CAPABILITY_{c.upper()}")
            for c in PROVIDER_CAPABILITIES.get(provider, ())
        ],
        secret_create_time=to_timestamp(row.secret_created_at),
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        etag=row.etag,
    )
    if row.previous_secret_expires_at is not None:
        integration.previous_secret_expire_time.CopyFrom(
            to_timestamp(row.previous_secret_expires_at)
        )
    if row.last_received_at is not None:
        integration.last_receive_time.CopyFrom(to_timestamp(row.last_received_at))
    if row.silent_since is not None:
        integration.silent_since_time.CopyFrom(to_timestamp(row.silent_since))
    return integration


def poll_status_to_proto(row: PollRow) -> pb.IntegrationPollStatus:
    """The poll status of an integration's ``integration_polls`` row."""
    status = pb.IntegrationPollStatus(
        next_cycle_time=to_timestamp(row.next_poll_at),
        outcome=row.last_outcome or "",
        found=row.last_found,
        created=row.last_created,
        resolved=row.last_resolved,
        error=(row.last_error or "")[:2048],
        consecutive_failures=row.failures,
    )
    if row.last_finished_at is not None:
        status.last_cycle_time.CopyFrom(to_timestamp(row.last_finished_at))
    return status


def tenant_to_proto(row: Tenant) -> pb.Tenant:
    """The proto of a ``tenants`` row."""
    return pb.Tenant(
        id=str(row.id),
        display_name=row.display_name,
        time_zone=row.time_zone,
        state=_TENANT_STATES.get(row.state, pb.TENANT_STATE_SUSPENDED),
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        etag=row.etag,
    )


PROVIDERS = tuple(p.value for p in Provider)


def write_results_to_proto(results: Sequence[WriteResult]) -> api.IngestAlertsResponse:
    """The IngestAlerts answer: one result per alert, in order."""
    return api.IngestAlertsResponse(
        results=[
            api.IngestAlertResult(
                alert_id=r.alert_id, delivery_key=r.delivery_key, duplicate=r.duplicate
            )
            for r in results
        ]
    )


def stored_reply(
    method: str, request_id: str, render: Callable[[R], Message], box: SecretBox | None = None
) -> IdempotentReply[R, wrappers_pb2.BytesValue]:
    """A reply stored as the answer's bytes in a BytesValue, sealed with the secrets key
    when ``box`` is given (the answer carries a secret: the requests table never holds a
    secret in clear)."""

    def store(result: R) -> wrappers_pb2.BytesValue:
        raw = render(result).SerializeToString()
        return wrappers_pb2.BytesValue(value=box.encrypt(raw) if box is not None else raw)

    return IdempotentReply(method, request_id, wrappers_pb2.BytesValue, store)


def from_stored(
    stored: wrappers_pb2.BytesValue, response_type: type[M], box: SecretBox | None = None
) -> M:
    """The answer a :func:`stored_reply` stored (or just built)."""
    answer = response_type()
    answer.ParseFromString(box.decrypt(stored.value) if box is not None else stored.value)
    return answer


def issued_token_to_proto(row: IssuedToken) -> tapi.IssuedToken:
    """The proto of an issued token's metadata."""
    token = tapi.IssuedToken(
        token_id=row.id,
        tenant_id=row.tenant_id or "",
        subject=row.subject,
        scopes=list(row.scopes),
        issue_time=to_timestamp(row.issued_at),
        expire_time=to_timestamp(row.expires_at),
        revoked_by=row.revoked_by or "",
    )
    if row.revoked_at is not None:
        token.revoke_time.CopyFrom(to_timestamp(row.revoked_at))
    return token
