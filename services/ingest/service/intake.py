"""From an authenticated body to the records to store: normalize, key, wrap.

Parsing is CPU work that grows with the body (a 256 KiB array of 700 alerts takes tens
of milliseconds): a large body is parsed in a worker thread, so one tenant's big
webhooks do not hold the event loop that answers every other tenant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from services.ingest.domain.alerts import (
    IntegrationContext,
    NormalizationError,
    NormalizedAlert,
    delivery_keys,
)
from services.ingest.domain.normalizers import normalize
from services.ingest.domain.records import MAX_ALERTS_PER_WEBHOOK, AlertRecord, RawBody
from services.ingest.errors import TooManyAlerts
from services.ingest.service.offload import off_loop
from triage.runtime import new_id

log = logging.getLogger(__name__)
THREAD_FROM_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Delivery:
    """One authenticated webhook: whose it is, what it carried, when it arrived."""

    tenant_id: str
    integration_id: str
    provider: str
    body: bytes
    media_type: str | None
    received_at: datetime
    context: IntegrationContext


def build_records(delivery: Delivery) -> list[AlertRecord]:
    """The records of every alert in the body, sharing one stored body.

    NormalizationError when the body cannot be read, whatever went wrong in the
    normalizer: a sender must get 400 for a body, never 5xx. TooManyAlerts beyond
    :data:`MAX_ALERTS_PER_WEBHOOK`.
    """
    try:
        alerts = normalize(delivery.provider, delivery.body, delivery.media_type, delivery.context)
    except NormalizationError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        log.warning("%s body not understood", delivery.provider, exc_info=True)
        raise NormalizationError("unreadable_body", detail=type(exc).__name__) from exc
    if len(alerts) > MAX_ALERTS_PER_WEBHOOK:
        raise TooManyAlerts(len(alerts))
    keys = delivery_keys(delivery.integration_id, delivery.body, alerts)
    body = RawBody(id=new_id(), raw=delivery.body)
    return [
        new_record(
            tenant_id=delivery.tenant_id,
            integration_id=delivery.integration_id,
            provider=delivery.provider,
            delivery_key=key,
            received_at=delivery.received_at,
            content_type=delivery.media_type,
            body=body,
            alert=alert,
        )
        for alert, key in zip(alerts, keys, strict=True)
    ]


def new_record(
    *,
    tenant_id: str,
    integration_id: str,
    provider: str,
    delivery_key: str,
    received_at: datetime,
    content_type: str | None,
    body: RawBody,
    alert: NormalizedAlert,
) -> AlertRecord:
    """The record of one delivered alert, under a fresh alert id (webhooks and
    IngestAlerts alike)."""
    return AlertRecord(
        alert_id=new_id(),
        tenant_id=tenant_id,
        integration_id=integration_id,
        provider=provider,
        delivery_key=delivery_key,
        received_at=received_at,
        content_type=content_type,
        body=body,
        alert=alert,
    )


async def records_for(delivery: Delivery) -> list[AlertRecord]:
    """:func:`build_records`, in a worker thread when the body is large."""
    if len(delivery.body) >= THREAD_FROM_BYTES:
        return await off_loop(build_records, delivery)
    return build_records(delivery)
