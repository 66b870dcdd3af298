"""Svix webhook signatures (Huntress signs its webhooks with Svix).

The scheme (docs.svix.com, "Verifying Webhooks Manually"): HMAC-SHA256 keyed with the
base64 secret after its ``whsec_`` prefix, over ``{svix-id}.{svix-timestamp}.{raw body}``,
base64-encoded; ``svix-signature`` holds space-separated ``v1,<signature>`` entries (more
than one during a secret rotation) and one match is enough; a timestamp more than five
minutes from now is refused (a captured delivery cannot be replayed later). The
``webhook-*`` header names of the Standard Webhooks spec are accepted too. Written here
instead of taking the ``svix`` package: it is the provider's whole API client, for
twenty lines of standard library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60
MAX_SIGNATURES = 8


def secret_key(secret: str) -> bytes | None:
    """The HMAC key of a ``whsec_`` secret; None when it is not valid base64."""
    text = secret.strip()
    if text.startswith(PREFIX):
        text = text[len(PREFIX) :]
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def valid_secret(secret: str) -> bool:
    """Whether ``secret`` looks like a Svix signing secret (``whsec_`` + base64)."""
    return secret.strip().startswith(PREFIX) and secret_key(secret) is not None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(f"svix-{name}") or headers.get(f"webhook-{name}")


def has_signature(headers: Mapping[str, str]) -> bool:
    """Whether the request carries Svix signature headers."""
    return _header(headers, "signature") is not None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of a delivery (what Svix sends; tests use it)."""
    key = secret_key(secret) or b""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> bool:
    """Whether ``headers`` (lower-case names) carry a valid, fresh Svix signature of
    ``body`` under ``secret``."""
    msg_id = _header(headers, "id")
    stamp = _header(headers, "timestamp")
    signatures = _header(headers, "signature")
    key = secret_key(secret)
    if not msg_id or not stamp or not signatures or key is None:
        return False
    stamp = stamp.strip()
    try:
        timestamp = int(stamp)
    except ValueError:
        return False
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    )
    ok = False
    for entry in signatures.split()[:MAX_SIGNATURES]:
        version, _, given = entry.partition(",")
        if version == "v1" and hmac.compare_digest(expected, given.encode()):
            ok = True
    return ok
