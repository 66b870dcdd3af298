"""What every ingest use case shares: the database, the outbox, the alert writer, the
secrets box and the webhook credentials cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.ingest.domain.integrations import WebhookIntegration
from services.ingest.domain.ratelimit import RateLimiter
from services.ingest.domain.records import AlertRecord, WriteResult
from triage.runtime import AccessList, AccessPublisher, Database, Outbox, SecretBox

ADMIN_TENANT = "00000000-0000-0000-0000-000000000000"


class AlertSink(Protocol):
    """Durable, idempotent storage of alert records (the group-commit writer)."""

    async def write(self, records: Sequence[AlertRecord]) -> list[WriteResult]:
        """Store ``records``; one result per record, in order."""
        ...


class ServiceBase:
    """State of the ingest service, shared by its use cases."""

    def __init__(self, *, db: Database, outbox: Outbox, writer: AlertSink, box: SecretBox) -> None:
        """Keep the collaborators; the caches and the rate limiter start empty."""
        self.db = db
        self.outbox = outbox
        self.writer = writer
        self.box = box
        self._credentials: dict[str, tuple[float, WebhookIntegration | None]] = {}
        #: Integration ids of deleted tenants seen here (a tombstone is forever).
        self._buried_integrations: set[str] = set()
        # Per replica, like the rest of the webhook path's state.
        self._limiter = RateLimiter()
        #: Mirrors revocations and suspensions to every service (set by the wiring).
        self.publisher: AccessPublisher | None = None
        #: What this process currently refuses (set by the wiring; webhooks check it).
        self.access: AccessList | None = None

    def _forget_credentials(self, integration_id: str) -> None:
        self._credentials.pop(integration_id, None)


def sealing_aad(integration_id: str) -> bytes:
    """The associated data an integration's secrets are sealed with."""
    return f"integration:{integration_id}".encode()
