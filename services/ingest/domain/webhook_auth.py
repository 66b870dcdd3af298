"""Webhook authentication: secret header, bearer, query token, or HMAC of the raw body.

Every path does the same work whether or not the integration exists, so an unknown
integration and a wrong secret cannot be told apart by timing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from services.ingest.domain import svix

_DUMMY_SECRET = b"\x00" * 43


@dataclass(frozen=True, slots=True)
class WebhookCredentials:
    """What the gateway needs to know about an integration to accept its webhooks."""

    integration_id: str
    tenant_id: str
    provider: str
    secret: bytes
    previous_secret: bytes | None
    previous_expires_at: datetime | None
    allow_query_token: bool
    disabled: bool
    #: The provider's own webhook signing secret (Huntress: Svix ``whsec_...``); when
    #: set, a valid signature under it is required and the Triage secret is not accepted.
    signing_secret: str | None = field(default=None, repr=False)

    def valid_secrets(self, now: datetime) -> tuple[bytes, bytes]:
        """The current secret and the previous one while its overlap lasts (else a dummy)."""
        previous = (
            self.previous_secret
            if self.previous_secret is not None
            and self.previous_expires_at is not None
            and now < self.previous_expires_at
            else None
        )
        return self.secret, previous if previous is not None else _DUMMY_SECRET


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def _signature(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).hexdigest().encode()


def presented_secret(headers: Mapping[str, str], query_token: str | None) -> bytes | None:
    """The shared secret the sender presented, from header, bearer or (if allowed) the query."""
    if value := headers.get("x-triage-secret"):
        return value.strip().encode()
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip().encode()
    if query_token:
        return query_token.encode()
    return None


def authenticate(
    credentials: WebhookCredentials | None,
    *,
    provider: str,
    headers: Mapping[str, str],
    query_token: str | None,
    body: bytes,
    now: datetime,
) -> bool:
    """Whether the request proves knowledge of the integration's secret.

    ``headers`` must have lower-case names. A Level-style ``X-Level-Signature: sha256=<hex>``
    is verified over the raw body before anything parses it; when present it must verify.
    An integration with a provider signing secret (Huntress) needs its Svix signature.
    """
    if credentials is not None and credentials.signing_secret:
        signed = svix.verify(credentials.signing_secret, headers, body, now)
        return signed and not credentials.disabled and credentials.provider == provider
    current, previous = (
        credentials.valid_secrets(now) if credentials else (_DUMMY_SECRET, _DUMMY_SECRET)
    )
    signature = headers.get("x-level-signature")
    if signature is not None:
        scheme, _, digest = signature.strip().partition("=")
        given = digest.strip().lower().encode()
        ok_current = _equal(_signature(current, body), given)
        ok_previous = _equal(_signature(previous, body), given)
        ok = scheme.lower() == "sha256" and (ok_current or ok_previous)
    else:
        query = query_token if (credentials is None or credentials.allow_query_token) else None
        presented = presented_secret(headers, query) or b""
        ok_current = _equal(current, presented)
        ok_previous = _equal(previous, presented)
        ok = bool(presented) and (ok_current or ok_previous)
    return (
        ok
        and credentials is not None
        and not credentials.disabled
        and credentials.provider == provider
    )
