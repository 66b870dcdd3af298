"""The webhook use case: an RMM's body, delivered to an integration's URL, stored.

The gateway speaks HTTP (route, body, media type, problems); everything a webhook means
is here: which integration it is for, whether the sender knows its secret, whether it is
within its rate, which alerts the body carries and under which keys, and storing them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.ingest.domain.alerts import IntegrationContext, Provider
from services.ingest.domain.records import WriteResult
from services.ingest.domain.webhook_auth import authenticate
from services.ingest.errors import WebhookRateLimited, WebhookUnauthorized
from services.ingest.service.intake import Delivery, records_for
from services.ingest.service.integrations import IntegrationUseCases


@dataclass(frozen=True, slots=True)
class Webhook:
    """One webhook as it arrived: where to, how it proves itself, what it carries."""

    provider: str
    integration_id: str
    #: Header names in lower case.
    headers: Mapping[str, str]
    query_token: str | None
    body: bytes
    media_type: str | None


class WebhookUseCases(IntegrationUseCases):
    """Accepting webhooks."""

    async def webhook_body_limit(self, integration_id: str) -> int | None:
        """The body size the integration accepts, None when there is no such integration
        (read before the body is)."""
        integration = await self.webhook_integration(integration_id)
        return integration.max_body_bytes if integration is not None else None

    async def accept_webhook(self, webhook: Webhook) -> list[WriteResult]:
        """Authenticate, rate-limit, normalize and store one webhook's alerts.

        WebhookUnauthorized (the same for an unknown integration and a wrong secret),
        WebhookRateLimited, NormalizationError or TooManyAlerts for the body,
        UnstorableAlert or StorageUnavailable from storage.
        """
        integration = await self.webhook_integration(webhook.integration_id)
        now = datetime.now(UTC)
        credentials = integration.credentials if integration else None
        if not authenticate(
            credentials,
            provider=webhook.provider,
            headers=webhook.headers,
            query_token=webhook.query_token,
            body=webhook.body,
            now=now,
        ):
            raise WebhookUnauthorized("unknown integration or wrong secret")
        assert integration is not None and credentials is not None
        retry_after = self._limiter.check(
            webhook.integration_id,
            rate=integration.rate,
            burst=integration.burst,
            now=time.monotonic(),
        )
        if retry_after > 0:
            raise WebhookRateLimited(
                retry_after=retry_after, rate=integration.rate, burst=integration.burst
            )
        delivery = Delivery(
            tenant_id=credentials.tenant_id,
            integration_id=webhook.integration_id,
            provider=webhook.provider,
            body=webhook.body,
            media_type=webhook.media_type,
            received_at=now,
            context=IntegrationContext(
                provider=Provider(webhook.provider),
                received_at=now,
                time_zone=integration.time_zone,
                field_mapping=integration.field_mappings,
            ),
        )
        records = await records_for(delivery)
        return await self.writer.write(records)
