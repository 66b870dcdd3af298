"""Channels: request protos <-> channel specs, the senders' inputs, and validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from services.notify.clients import ChannelConfigError, Sender
from services.notify.convert.settings import settings_violations
from services.notify.domain.channel import ChannelSpec
from services.notify.domain.model import ChannelKind
from services.notify.domain.records import ChannelView
from services.notify.domain.sending import sender_inputs, template_overrides
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
_CHANNEL_FIELDS = (
    "display_name",
    "disabled",
    "default",
    "quiet_hours",
    "rate_limit",
    "digest",
    "template",
)


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
        default=channel.default,
    )


def spec_to_proto(spec: ChannelSpec) -> pb.Channel:
    """A channel proto of ``spec`` with secrets omitted and ``has_*`` flags set."""
    channel = pb.Channel(
        display_name=spec.display_name, disabled=spec.disabled, default=spec.default
    )
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
    violations += settings_violations(spec)
    if violations:
        raise InvalidArgument("invalid channel", violations=violations)
    return destination


def channel_to_proto(view: ChannelView) -> pb.Channel:
    """The API view of a stored channel (secrets omitted)."""
    row = view.row
    channel = spec_to_proto(view.spec)
    channel.id = str(row.id)
    channel.tenant_id = str(row.tenant_id)
    state = str(row.breaker_state or "closed")
    channel.circuit_state = pb.CircuitState.Value(f"CIRCUIT_STATE_{state.upper()}")
    for field, value in (
        ("last_success_time", row.last_success_at),
        ("last_failure_time", row.last_failure_at),
        ("create_time", row.created_at),
        ("update_time", row.updated_at),
    ):
        if value is not None:
            getattr(channel, field).CopyFrom(to_timestamp(value))
    channel.etag = str(row.version)
    return channel


def apply_channel_mask(
    current: ChannelSpec, request: pb.Channel, paths: Sequence[str]
) -> ChannelSpec:
    """The stored spec with the request's values at ``paths``; secrets only when named."""
    if not paths:
        raise InvalidArgument.field("update_mask", "name the fields to change")
    kind_field = KIND_FIELDS[current.kind]
    requested_kind = channel_kind(request)
    config = dict(current.config)
    secrets = dict(current.secrets)
    changes: dict[str, Any] = {}
    violations: list[FieldViolation] = []
    asked_config, asked_secrets = (
        split_secrets(current.kind, config_message(request, current.kind))
        if requested_kind in (None, current.kind)
        else ({}, {})
    )
    secret_names = SECRET_FIELDS[current.kind]
    config_fields = config_message(request, current.kind).DESCRIPTOR.fields_by_name
    for path in paths:
        head, _, rest = path.partition(".")
        if head in _CHANNEL_FIELDS:
            if head == "display_name":
                changes[head] = request.display_name.strip()
            elif head in ("disabled", "default"):
                changes[head] = getattr(request, head)
            else:
                message = getattr(request, head)
                present = request.HasField(head)  # type: ignore[arg-type]
                changes[head] = to_json(message) if present else None
        elif head == kind_field:
            if requested_kind not in (None, current.kind):
                violations.append(FieldViolation("channel", "the channel's kind cannot change"))
            elif not rest:
                config = asked_config
            elif rest in secret_names:
                if asked_secrets.get(rest):
                    secrets[rest] = asked_secrets[rest]
                else:
                    secrets.pop(rest, None)
            elif (name := rest.split(".", 1)[0]) in config_fields:
                if name in asked_config:
                    config[name] = asked_config[name]
                else:
                    config.pop(name, None)
            else:
                violations.append(FieldViolation("update_mask", f"unknown field {path!r}"))
        elif head in FIELD_KINDS:
            violations.append(FieldViolation(f"channel.{head}", "the channel's kind cannot change"))
        else:
            violations.append(FieldViolation("update_mask", f"cannot update {path!r}"))
    if violations:
        raise InvalidArgument("invalid update", violations=violations)
    return dataclasses.replace(current, config=config, secrets=secrets, **changes)
