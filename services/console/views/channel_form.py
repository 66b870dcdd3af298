"""Channel and notification-policy editor forms <-> messages (pure).

Secrets are input only: a blank secret field keeps the stored one (its path is left out
of the update mask); a typed one replaces it."""

from __future__ import annotations

from triage.ingest.v1 import resources_pb2 as ingest_res
from triage.notify.v1 import resources_pb2 as notify_res
from triage.tickets.v1 import resources_pb2 as tickets_res

#: Channel kinds the editor offers, and per kind: (plain fields, secret fields, list fields).
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "webhook": (("url", "body_version"), ("signing_secret", "bearer_token"), ()),
    "ntfy": (("server_url", "topic"), ("access_token",), ("tags",)),
    "smtp": (("host", "port", "username", "from_address"), ("password",), ("to_addresses",)),
    "slack": ((), ("webhook_url",), ()),
    "teams": ((), ("webhook_url",), ()),
}
_KIND_ENUM = {k: notify_res.ChannelKind.Value(f"CHANNEL_KIND_{k.upper()}") for k in KINDS}

#: API field path -> the channel form field its error is shown beside.
CHANNEL_FIELDS: dict[str, str] = {
    "display_name": "display_name",
    "template.subject_template": "subject_template",
    "template.body_template": "body_template",
    "template": "body_template",
    **{
        f"{kind}.{name}": name
        for kind, (plain, secret, lists) in KINDS.items()
        for name in (*plain, *secret, *lists)
    },
    **dict.fromkeys(KINDS, "_"),
}
#: API field path -> the policy form field.
POLICY_FIELDS = {
    "display_name": "display_name",
    "event_types": "event_types",
    "channel_ids": "channel_ids",
    "filter.min_severity": "min_severity",
    "filter.priorities": "priorities",
    "filter.client_ids": "client_ids",
    "filter.queues": "queues",
    "filter": "client_ids",
}


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def channel_kind(channel: notify_res.Channel) -> str:
    """The editor's name of the channel's kind ("" when none is set)."""
    return channel.WhichOneof("config") or ""


def channel_from_form(
    fields: dict[str, list[str]], *, base: notify_res.Channel | None = None
) -> tuple[notify_res.Channel, list[str], dict[str, str]]:
    """The edited channel, its update mask paths, and errors the form itself can tell."""
    # Slack's and Teams' sections share the field name: the filled-in value wins.
    one = {k: next((x.strip() for x in reversed(v) if x.strip()), "") for k, v in fields.items()}
    errors: dict[str, str] = {}
    channel = notify_res.Channel()
    if base is not None:
        channel.CopyFrom(base)
    kind = channel_kind(base) if base is not None else one.get("kind", "")
    if kind not in KINDS:
        return channel, [], {"kind": "choose a kind of channel"}
    channel.display_name = one.get("display_name", "")
    channel.disabled = "disabled" in fields
    # The editor always shows the box ticked as stored, so an absent box means unticked.
    channel.default = "default" in fields
    channel.kind = _KIND_ENUM[kind]
    paths = ["display_name", "disabled", "default", "template"]
    config = getattr(channel, kind)
    config.SetInParent()
    plain, secret, lists = KINDS[kind]
    for name in plain:
        value = one.get(name, "")
        if name == "port":
            if value and not value.isdigit():
                errors[name] = "a port number"
                continue
            config.port = int(value or 0)
        else:
            setattr(config, name, value)
        paths.append(f"{kind}.{name}")
    for name in lists:
        getattr(config, name)[:] = _csv(one.get(name, ""))
        paths.append(f"{kind}.{name}")
    for name in secret:
        setattr(config, name, one.get(name, ""))
        if one.get(name) or base is None:
            paths.append(f"{kind}.{name}")
    channel.template.subject_template = one.get("subject_template", "")
    channel.template.body_template = fields.get("body_template", [""])[-1]
    return channel, paths, errors


def _enum(enum_type: object, prefix: str, text: str) -> int:
    try:
        return int(enum_type.Value(prefix + text.upper()))  # type: ignore[attr-defined]
    except ValueError:
        return 0


def policy_from_form(
    fields: dict[str, list[str]], *, base: notify_res.NotificationPolicy | None = None
) -> tuple[notify_res.NotificationPolicy, list[str]]:
    """The edited policy and its update mask paths."""
    one = {k: v[-1].strip() for k, v in fields.items() if v}
    policy = notify_res.NotificationPolicy()
    if base is not None:
        policy.CopyFrom(base)
    policy.display_name = one.get("display_name", "")
    policy.disabled = "disabled" in fields
    events = [
        _enum(notify_res.NotificationEventType, "NOTIFICATION_EVENT_TYPE_", e)
        for e in fields.get("event_types", [])
    ]
    policy.event_types[:] = [notify_res.NotificationEventType.ValueType(e) for e in events if e]
    policy.channel_ids[:] = [c for c in fields.get("channel_ids", []) if c]
    f = policy.filter
    f.min_severity = _enum(ingest_res.Severity, "SEVERITY_", one.get("min_severity", ""))  # type: ignore[assignment]
    priorities = [_enum(tickets_res.Priority, "PRIORITY_", p) for p in fields.get("priorities", [])]
    f.priorities[:] = [tickets_res.Priority.ValueType(p) for p in priorities if p]
    f.client_ids[:] = _csv(one.get("client_ids", ""))
    f.queues[:] = _csv(one.get("queues", ""))
    return policy, ["channel_ids", "disabled", "display_name", "event_types", "filter"]
