from __future__ import annotations

import pytest

from services.notify.clients import WebhookSender
from services.notify.convert.channels import (
    apply_channel_mask,
    spec_from_proto,
    spec_to_proto,
    validate_spec,
)
from services.notify.domain.sending import sender_inputs
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime.errors import InvalidArgument


def _webhook() -> pb.Channel:
    return pb.Channel(
        display_name="hook",
        webhook=pb.WebhookConfig(
            url="https://hooks.example/x", signing_secret="s1", headers={"X-Env": "prod"}
        ),
    )


def test_secrets_are_split_out_and_reported_by_flags_only() -> None:
    spec = spec_from_proto(_webhook())
    assert spec.secrets == {"signing_secret": "s1"}
    assert "signing_secret" not in spec.config
    shown = spec_to_proto(spec)
    assert shown.webhook.has_signing_secret and not shown.webhook.signing_secret
    assert shown.kind == pb.CHANNEL_KIND_WEBHOOK
    config, secrets = sender_inputs(spec)
    assert config == {"url": "https://hooks.example/x", "headers": {"X-Env": "prod"}}
    assert secrets == {"signing_secret": "s1"}
    assert validate_spec(spec, WebhookSender()) == "https://hooks.example/x"


def test_mask_changes_secrets_only_when_named() -> None:
    current = spec_from_proto(_webhook())
    request = pb.Channel(webhook=pb.WebhookConfig(url="https://new.example/y"))
    kept = apply_channel_mask(current, request, ["webhook.url"])
    assert kept.config["url"] == "https://new.example/y"
    assert kept.secrets == {"signing_secret": "s1"}
    cleared = apply_channel_mask(current, request, ["webhook.signing_secret"])
    assert cleared.secrets == {}
    with pytest.raises(InvalidArgument) as caught:
        apply_channel_mask(current, pb.Channel(ntfy=pb.NtfyConfig(topic="t")), ["ntfy.topic"])
    assert caught.value.violations[0].field == "channel.ntfy"
