"""Delivery idempotency keys."""

from __future__ import annotations

import hashlib
import json

_KEY_VERSION = "triage.notify.delivery.v1"


def idempotency_key(event_id: str, tenant_id: str, channel_id: str, destination: str) -> str:
    """Stable sha256 hex of (event, tenant, channel, destination).

    The parts are JSON-encoded as a list, so no choice of separators inside a part
    can make two different tuples collide. `destination` should be the canonical form
    the channel reports (see `Sender.destination`).
    """
    encoded = json.dumps(
        [_KEY_VERSION, event_id, tenant_id, channel_id, destination],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return hashlib.sha256(encoded).hexdigest()
