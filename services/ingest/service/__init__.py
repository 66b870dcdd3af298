"""Ingest use cases, one module per aggregate; :class:`IngestService` is all of them."""

from __future__ import annotations

from services.ingest.service.alerts import AlertUseCases
from services.ingest.service.polling import PollUseCases
from services.ingest.service.silence import SilenceUseCases
from services.ingest.service.tenants import TenantUseCases
from services.ingest.service.tokens import TokenUseCases
from services.ingest.service.webhooks import WebhookUseCases


class IngestService(
    TenantUseCases, TokenUseCases, AlertUseCases, WebhookUseCases, PollUseCases, SilenceUseCases
):
    """The ingest service's use cases (the gRPC servicers and the webhook gateway call them)."""
