"""The webhook use case: an RMM's body, delivered to an integration's URL, stored.

The gateway speaks HTTP (route, body, media type, problems); everything a webhook means
is here: which integration it is for, whether the sender knows its secret, whether it is
within its rate, which alerts the body carries and under which keys, and storing them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.ingest.domain.alerts import IntegrationContext, Provider
from services.ingest.domain.identity import reconcile_key
from services.ingest.domain.polled_series import (
    closed_by_key,
    link_since,
    match_polled,
    unlinked_triggers,
    with_series,
)
from services.ingest.domain.records import AlertRecord, WriteResult
from services.ingest.domain.webhook_auth import authenticate
from services.ingest.errors import (
    TenantDeleted,
    TenantSuspended,
    WebhookRateLimited,
    WebhookUnauthorized,
)
from services.ingest.service.intake import Delivery, records_for
from services.ingest.service.integrations import IntegrationUseCases
from services.ingest.store import polls
from triage.runtime import DELETED_STATE


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
        TenantDeleted for an integration of a deleted tenant (its row gone),
        TenantSuspended once authenticated while the tenant is suspended, TenantDeleted
        once its deletion was requested,
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
            if integration is None and self.integration_buried(webhook.integration_id):
                # No secret is left to check: the id alone says the tenant is gone (never
                # which tenant). Any other id stays the one 401 (it does not exist).
                raise TenantDeleted("this integration's tenant was deleted")
            raise WebhookUnauthorized("unknown integration or wrong secret")
        assert integration is not None and credentials is not None
        if self.access is not None and self.access.is_suspended(credentials.tenant_id):
            # Only an authenticated sender learns it: nothing is stored while suspended.
            raise TenantSuspended(f"the tenant {credentials.tenant_id} is suspended")
        deletion = self.access.deletion(credentials.tenant_id) if self.access else None
        if deletion is not None:
            # Another replica's cached credentials would otherwise still store its alerts.
            raise TenantDeleted(
                f"the tenant {credentials.tenant_id} was deleted",
                reason=None if deletion == DELETED_STATE else "TENANT_DELETING",
            )
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
        if not integration.polled:
            return await self.writer.write(records)
        return await self._write_unless_polled(delivery, records)

    async def _write_unless_polled(
        self, delivery: Delivery, records: list[AlertRecord]
    ) -> list[WriteResult]:
        """Store ``records`` against the triggers polling created that are still open
        (domain/polled_series.py): a late webhook trigger after a poll is a duplicate, not
        a second alert; a webhook reset resets the polled trigger's series; a trigger that
        occurred before the reset of a polled series closed lately joins that series."""
        provider = delivery.provider
        keys = [reconcile_key(provider, r.alert) for r in records]
        kinds = [(r.alert.kind, k) for r, k in zip(records, keys, strict=True)]
        async with self.db.system_transaction() as session:
            polled = await polls.polled_open(session, delivery.integration_id)
            closed = (
                await polls.closed_polled(
                    session,
                    tenant_id=delivery.tenant_id,
                    integration_id=delivery.integration_id,
                    since=link_since(
                        delivery.received_at,
                        await polls.integration_settings(session, delivery.integration_id),
                    ),
                )
                if unlinked_triggers(kinds, polled)
                else []
            )
            wanted = {polled[k] for k in keys if k in polled}
            later = (
                await polls.later_series_events(
                    session,
                    tenant_id=delivery.tenant_id,
                    integration_id=delivery.integration_id,
                    alert_ids=sorted(wanted),
                )
                if wanted
                else []
            )
            match = match_polled(
                kinds,
                polled_open=polled,
                moved={reconcile_key(provider, event) for event in later},
                closed=closed_by_key(provider, closed),
                occurred=[r.alert.occurred_at for r in records],
            )
            series = (
                await polls.series_keys(
                    session,
                    tenant_id=delivery.tenant_id,
                    integration_id=delivery.integration_id,
                    alert_ids=sorted(set(match.joins.values())),
                )
                if match.joins
                else {}
            )
        fresh = [
            _joined(r, series.get(match.joins.get(i, "")))
            for i, r in enumerate(records)
            if i not in match.duplicate_of
        ]
        stored = iter(await self.writer.write(fresh))
        return [
            WriteResult(alert_id=match.duplicate_of[i], delivery_key=r.delivery_key, duplicate=True)
            if i in match.duplicate_of
            else next(stored)
            for i, r in enumerate(records)
        ]


def _joined(record: AlertRecord, series_key: str | None) -> AlertRecord:
    """``record`` under the polled series it joins, if any."""
    if series_key is None:
        return record
    return replace(record, alert=with_series(record.alert, series_key))
