"""Protobuf <-> stored values: channel configs and secrets, settings, deliveries, messages."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message

from services.notify.clients import ChannelConfigError, Sender
from services.notify.domain.model import ChannelKind, NotificationMessage
from services.notify.domain.policy import EVENT_TYPES, Policy, PolicyFilter
from services.notify.domain.quiet_hours import QuietHours
from services.notify.domain.templates import TemplateError, validate_overrides
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import FieldViolation, InvalidArgument, to_timestamp

KIND_FIELDS: dict[ChannelKind, str] = {
    ChannelKind.WEBHOOK: "webhook",
    ChannelKind.NTFY: "ntfy",
    ChannelKind.SMTP: "smtp",
    ChannelKind.SLACK: "slack",
    ChannelKind.TEAMS: "teams",
}
FIELD_KINDS = {v: k for k, v in KIND_FIELDS.items()}
KIND_ENUM: dict[ChannelKind, int] = {
    ChannelKind.WEBHOOK: pb.CHANNEL_KIND_WEBHOOK,
    ChannelKind.NTFY: pb.CHANNEL_KIND_NTFY,
    ChannelKind.SMTP: pb.CHANNEL_KIND_SMTP,
    ChannelKind.SLACK: pb.CHANNEL_KIND_SLACK,
    ChannelKind.TEAMS: pb.CHANNEL_KIND_TEAMS,
}
ENUM_KIND = {v: k for k, v in KIND_ENUM.items()}

#: Secret fields of each config message, and the output-only flag that reports each.
SECRET_FIELDS: dict[ChannelKind, dict[str, str]] = {
    ChannelKind.WEBHOOK: {
        "signing_secret": "has_signing_secret",
        "bearer_token": "has_bearer_token",
    },
    ChannelKind.NTFY: {"access_token": "has_access_token"},
    ChannelKind.SMTP: {"password": "has_password"},
    ChannelKind.SLACK: {"webhook_url": "has_webhook_url"},
    ChannelKind.TEAMS: {"webhook_url": "has_webhook_url"},
}

#: Sender option names -> proto field names, to point field violations at the request.
_SENDER_FIELDS: dict[ChannelKind, dict[str, str]] = {
    ChannelKind.WEBHOOK: {
        "url": "url",
        "headers": "headers",
        "signing_secret": "signing_secret",
        "bearer_token": "bearer_token",
    },
    ChannelKind.NTFY: {
        "server": "server_url",
        "topic": "topic",
        "tags": "tags",
        "token": "access_token",
    },
    ChannelKind.SMTP: {
        "host": "host",
        "port": "port",
        "security": "security",
        "from_addr": "from_address",
        "to": "to_addresses",
        "ca_pem": "ca_certificate_pem",
        "username": "username",
        "password": "password",
        "message_id_domain": "from_address",
    },
    ChannelKind.SLACK: {"webhook_url": "webhook_url"},
    ChannelKind.TEAMS: {"webhook_url": "webhook_url"},
}
_SMTP_SECURITY = {
    pb.SMTP_SECURITY_UNSPECIFIED: "starttls",
    pb.SMTP_SECURITY_STARTTLS: "starttls",
    pb.SMTP_SECURITY_TLS: "tls",
    pb.SMTP_SECURITY_NONE: "none",
}

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
    "notify.channel_failing": pb.NOTIFICATION_EVENT_TYPE_CHANNEL_FAILING,
    "alert.reset_failed": pb.NOTIFICATION_EVENT_TYPE_ALERT_RESET_FAILED,
}
ENUM_EVENT_TYPE = {v: k for k, v in EVENT_TYPE_ENUM.items()}
assert set(EVENT_TYPE_ENUM) == set(EVENT_TYPES)


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel's writable state as stored: proto-shaped JSON plus plaintext secrets."""

    display_name: str
    kind: ChannelKind
    config: dict[str, Any]
    secrets: dict[str, str]
    disabled: bool
    quiet_hours: dict[str, Any] | None
    rate_limit: dict[str, Any] | None
    digest: dict[str, Any] | None
    template: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """A channel's delivery settings as the worker needs them."""

    quiet_windows: tuple[QuietHours, ...]
    hold_critical: bool
    rate_max: int
    rate_period: timedelta
    digest_window: timedelta
    digest_min: int


def to_json(message: Message) -> dict[str, Any]:
    """A message as JSON data with proto field names (defaults omitted)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _opt_json(message: Message, present: bool) -> dict[str, Any] | None:
    return to_json(message) if present else None


def channel_kind(channel: pb.Channel) -> ChannelKind | None:
    """The kind implied by the channel's config oneof, if one is set."""
    which = channel.WhichOneof("config")
    return FIELD_KINDS.get(which) if which else None


def config_message(channel: pb.Channel, kind: ChannelKind) -> Message:
    """The kind's config sub-message of ``channel``."""
    config: Message = getattr(channel, KIND_FIELDS[kind])
    return config


def split_secrets(kind: ChannelKind, config: Message) -> tuple[dict[str, Any], dict[str, str]]:
    """The config as JSON without secrets or output flags, and the secrets it carried."""
    secrets: dict[str, str] = {}
    copy = type(config)()
    copy.CopyFrom(config)
    for name, flag in SECRET_FIELDS[kind].items():
        value = getattr(copy, name)
        if value:
            secrets[name] = value
        copy.ClearField(name)
        copy.ClearField(flag)
    return to_json(copy), secrets


def spec_from_proto(channel: pb.Channel, secrets: Mapping[str, str] | None = None) -> ChannelSpec:
    """The spec of a request's channel; ``secrets`` overrides the ones the request carried."""
    kind = channel_kind(channel)
    if kind is None:
        raise InvalidArgument.field("channel.config", "exactly one channel config is required")
    if channel.kind and channel.kind != KIND_ENUM[kind]:
        # `kind` is output only, but a caller who sets it must not be silently overruled.
        raise InvalidArgument.field("channel.kind", "does not match the channel's config")
    config, carried = split_secrets(kind, config_message(channel, kind))
    return ChannelSpec(
        display_name=channel.display_name.strip(),
        kind=kind,
        config=config,
        secrets=dict(carried if secrets is None else secrets),
        disabled=channel.disabled,
        quiet_hours=_opt_json(channel.quiet_hours, channel.HasField("quiet_hours")),
        rate_limit=_opt_json(channel.rate_limit, channel.HasField("rate_limit")),
        digest=_opt_json(channel.digest, channel.HasField("digest")),
        template=_opt_json(channel.template, channel.HasField("template")),
    )


def spec_to_proto(spec: ChannelSpec) -> pb.Channel:
    """A channel proto of ``spec`` with secrets omitted and ``has_*`` flags set."""
    channel = pb.Channel(display_name=spec.display_name, disabled=spec.disabled)
    config = config_message(channel, spec.kind)
    json_format.ParseDict(spec.config, config)
    for name, flag in SECRET_FIELDS[spec.kind].items():
        setattr(config, flag, bool(spec.secrets.get(name)))
    if not spec.config:
        config.SetInParent()
    for field, value in (
        ("quiet_hours", spec.quiet_hours),
        ("rate_limit", spec.rate_limit),
        ("digest", spec.digest),
        ("template", spec.template),
    ):
        if value is not None:
            target = getattr(channel, field)
            json_format.ParseDict(value, target)
            target.SetInParent()
    channel.kind = KIND_ENUM[spec.kind]  # type: ignore[assignment]
    return channel


def sender_inputs(spec: ChannelSpec) -> tuple[dict[str, Any], dict[str, str]]:
    """The (config, secrets) mappings the kind's sender takes."""
    c, s = spec.config, spec.secrets
    config: dict[str, Any]
    secrets: dict[str, str] = {}
    if spec.kind is ChannelKind.WEBHOOK:
        config = {"url": c.get("url", ""), "headers": dict(c.get("headers", {}))}
        secrets = {k: s[k] for k in ("signing_secret", "bearer_token") if s.get(k)}
    elif spec.kind is ChannelKind.NTFY:
        config = {"server": c.get("server_url", ""), "topic": c.get("topic", "")}
        if c.get("tags"):
            config["tags"] = list(c["tags"])
        if s.get("access_token"):
            secrets["token"] = s["access_token"]
    elif spec.kind is ChannelKind.SMTP:
        security = _SMTP_SECURITY[
            pb.SmtpSecurity.Value(c.get("security", "SMTP_SECURITY_UNSPECIFIED"))
        ]
        config = {
            "host": c.get("host", ""),
            "security": security,
            "from_addr": c.get("from_address", ""),
            "to": list(c.get("to_addresses", [])),
        }
        if c.get("port"):
            config["port"] = int(c["port"])
        if c.get("ca_certificate_pem"):
            config["ca_pem"] = c["ca_certificate_pem"]
        if c.get("username"):
            secrets["username"] = c["username"]
        if s.get("password"):
            secrets["password"] = s["password"]
    else:
        config = {}
        if s.get("webhook_url"):
            secrets["webhook_url"] = s["webhook_url"]
    overrides = template_overrides(spec.template)
    if overrides:
        config["templates"] = overrides
    return config, secrets


def template_overrides(template: Mapping[str, Any] | None) -> dict[str, str]:
    """Template parts overridden by the channel (title and text)."""
    if not template:
        return {}
    parts = {
        "title": template.get("subject_template", ""),
        "text": template.get("body_template", ""),
    }
    return {k: v for k, v in parts.items() if v}


def validate_spec(spec: ChannelSpec, sender: Sender) -> str:
    """Check everything about a channel; returns its destination or raises INVALID_ARGUMENT."""
    violations: list[FieldViolation] = []
    if not spec.display_name:
        violations.append(FieldViolation("channel.display_name", "is required"))
    elif len(spec.display_name) > 200:
        violations.append(FieldViolation("channel.display_name", "at most 200 characters"))
    config, secrets = sender_inputs(spec)
    destination = ""
    prefix = f"channel.{KIND_FIELDS[spec.kind]}"
    try:
        sender.validate(config, secrets)
        destination = sender.destination(config, secrets)
    except ChannelConfigError as exc:
        name = exc.field.split(".", 1)[0]
        proto_field = _SENDER_FIELDS[spec.kind].get(name)
        path = f"{prefix}.{proto_field}" if proto_field else prefix
        violations.append(FieldViolation(path, exc.problem))
    try:
        validate_overrides(spec.kind, template_overrides(spec.template))
    except TemplateError as exc:
        part = "subject_template" if exc.part == "title" else "body_template"
        violations.append(FieldViolation(f"channel.template.{part}", exc.detail))
    violations += _settings_violations(spec)
    if violations:
        raise InvalidArgument("invalid channel", violations=violations)
    return destination


def _settings_violations(spec: ChannelSpec) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    if spec.quiet_hours is not None:
        try:
            quiet_windows(spec.quiet_hours)
        except ValueError as exc:
            out.append(FieldViolation("channel.quiet_hours", str(exc)))
    if spec.rate_limit is not None:
        limit = json_format.ParseDict(spec.rate_limit, pb.ChannelRateLimit())
        if limit.max_messages < 0:
            out.append(FieldViolation("channel.rate_limit.max_messages", "must not be negative"))
        if limit.max_messages > 0 and limit.period.ToTimedelta() <= timedelta(0):
            out.append(FieldViolation("channel.rate_limit.period", "must be positive"))
    if spec.digest is not None:
        digest = json_format.ParseDict(spec.digest, pb.DigestSettings())
        if digest.min_messages < 0 or digest.min_messages == 1:
            out.append(FieldViolation("channel.digest.min_messages", "must be 0 or at least 2"))
        if digest.min_messages > 1 and digest.window.ToTimedelta() <= timedelta(0):
            out.append(FieldViolation("channel.digest.window", "must be positive"))
    return out


def _wall(value: Any, field: str) -> time | None:
    h, m, s = value.hours, value.minutes, value.seconds
    if h == 24 and m == 0 and s == 0:
        return None
    if not (0 <= h <= 23 and 0 <= m <= 59 and 0 <= s <= 59):
        raise ValueError(f"{field} is not a valid time of day")
    return time(h, m, s)


def quiet_windows(data: Mapping[str, Any], default_zone: str = "UTC") -> list[QuietHours]:
    """The domain windows of stored quiet hours; ValueError if they cannot work."""
    quiet = json_format.ParseDict(dict(data), pb.QuietHours())
    zone = quiet.time_zone or default_zone
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {zone!r}") from exc
    windows: list[QuietHours] = []
    for i, r in enumerate(quiet.ranges):
        start = _wall(r.start, f"ranges[{i}].start") or time(0)
        end = _wall(r.end, f"ranges[{i}].end")
        days = frozenset(int(d) - 1 for d in r.days) or None
        if days is not None and not days <= frozenset(range(7)):
            raise ValueError(f"ranges[{i}].days must be set days of the week")
        if end is None:
            end = time(0) if start != time(0) else time(23, 59, 59, 999999)
        if start == end:
            raise ValueError(f"ranges[{i}] is empty")
        windows.append(QuietHours(start=start, end=end, zone=zone, weekdays=days))
    return windows


def settings_of(
    quiet_hours: Mapping[str, Any] | None,
    rate_limit: Mapping[str, Any] | None,
    digest: Mapping[str, Any] | None,
    *,
    default_zone: str = "UTC",
) -> ChannelSettings:
    """A channel's stored settings as domain values (invalid ones count as unset); quiet
    hours that name no zone are in ``default_zone`` (the tenant's)."""
    windows: list[QuietHours] = []
    hold_critical = False
    if quiet_hours:
        try:
            windows = quiet_windows(quiet_hours, default_zone)
        except ValueError:
            windows = []
        hold_critical = bool(quiet_hours.get("hold_critical"))
    limit = json_format.ParseDict(dict(rate_limit or {}), pb.ChannelRateLimit())
    dig = json_format.ParseDict(dict(digest or {}), pb.DigestSettings())
    return ChannelSettings(
        quiet_windows=tuple(windows),
        hold_critical=hold_critical,
        rate_max=max(0, limit.max_messages),
        rate_period=limit.period.ToTimedelta(),
        digest_window=dig.window.ToTimedelta(),
        digest_min=max(0, dig.min_messages),
    )


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


def policy_from_row(row: Any) -> Policy:
    """A domain policy of a stored row."""
    f = row.filter or {}
    return Policy(
        id=str(row.id),
        event_types=frozenset(row.event_types),
        channel_ids=tuple(str(c) for c in row.channel_ids),
        disabled=bool(row.disabled),
        filter=PolicyFilter(
            min_severity=int(f["min_severity"]) if f.get("min_severity") else None,
            priorities=frozenset(int(x) for x in f.get("priorities", [])),
            client_ids=frozenset(f.get("client_ids", [])),
            queues=frozenset(f.get("queues", [])),
            rule_ids=frozenset(f.get("rule_ids", [])),
        ),
    )


def filter_to_json(f: pb.NotificationFilter) -> dict[str, Any]:
    """A filter as stored (enums as numbers)."""
    return {
        "min_severity": int(f.min_severity),
        "priorities": [int(x) for x in f.priorities],
        "client_ids": list(f.client_ids),
        "queues": list(f.queues),
        "rule_ids": list(f.rule_ids),
    }


def policy_to_proto(row: Any) -> pb.NotificationPolicy:
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


def message_to_json(message: NotificationMessage) -> dict[str, Any]:
    """A notification message as stored with its delivery."""
    return {
        "event_id": message.event_id,
        "event_type": message.event_type,
        "tenant_id": message.tenant_id,
        "occurred_at": message.occurred_at.astimezone(UTC).isoformat(),
        "severity": message.severity,
        "priority": message.priority,
        "title": message.title,
        "body": message.body,
        "url": message.url,
        "fields": [[k, v] for k, v in message.fields.items()],
    }


def message_from_json(data: Mapping[str, Any]) -> NotificationMessage:
    """The notification message stored with a delivery."""
    return NotificationMessage(
        event_id=data["event_id"],
        event_type=data["event_type"],
        tenant_id=data["tenant_id"],
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        severity=int(data["severity"]),
        priority=data.get("priority"),
        title=data["title"],
        body=data["body"],
        url=data.get("url"),
        fields={str(k): str(v) for k, v in data.get("fields", [])},
    )


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


def attempt_to_proto(row: Any) -> pb.DeliveryAttempt:
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


def delivery_to_proto(row: Any, attempts: Sequence[Any] = ()) -> pb.Delivery:
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
