"""Alert use cases: already-normalized alerts from internal callers (IngestAlerts), and
reads of stored alert events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message

from services.ingest.domain.alert_events import AlertFilters, StoredAlert
from services.ingest.domain.integrations import Integration
from services.ingest.domain.records import AlertDraft, RawBody, WriteResult
from services.ingest.errors import AlertNotFound
from services.ingest.service.intake import new_record
from services.ingest.service.integrations import IntegrationUseCases
from services.ingest.store import alerts as store
from services.ingest.store.requests import requests
from triage.runtime import (
    FieldViolation,
    IdempotentReply,
    InvalidArgument,
    NotFound,
    new_id,
    require_uuid,
)

M = TypeVar("M", bound=Message)
MAX_ALERTS_PER_CALL = 1000
PROTOBUF = "application/x-protobuf"


class AlertUseCases(IntegrationUseCases):
    """Storing normalized alerts and reading stored ones."""

    async def ingest_alerts(
        self,
        *,
        tenant_id: str,
        drafts: Sequence[AlertDraft],
        reply: IdempotentReply[list[WriteResult], M],
    ) -> M:
        """IngestAlerts: already-normalized alerts from internal callers, once per request."""
        if not drafts:
            raise InvalidArgument.field("alerts", "must contain at least one alert")
        if len(drafts) > MAX_ALERTS_PER_CALL:
            raise InvalidArgument.field("alerts", "at most 1000 alerts per call")
        violations: list[FieldViolation] = []
        integrations: dict[str, Integration | None] = {}
        for i, draft in enumerate(drafts):
            where = f"alerts[{i}]"
            violations += [FieldViolation(f"{where}.{f}", d) for f, d in draft.problems()]
            if draft.integration_id not in integrations:
                try:
                    integrations[draft.integration_id] = await self.get_integration(
                        tenant_id=tenant_id, integration_id=draft.integration_id
                    )
                except (NotFound, InvalidArgument):
                    violations.append(
                        FieldViolation(f"{where}.integration_id", "no such integration")
                    )
                    integrations[draft.integration_id] = None
        if violations:
            raise InvalidArgument("invalid alerts", violations=violations)
        now = datetime.now(UTC)
        records = []
        for draft in drafts:
            integration = integrations[draft.integration_id]
            assert integration is not None
            records.append(
                new_record(
                    tenant_id=tenant_id,
                    integration_id=draft.integration_id,
                    provider=integration.provider,
                    delivery_key=draft.delivery_key or draft.source_event_id or str(uuid.uuid4()),
                    received_at=now,
                    content_type=PROTOBUF,
                    body=RawBody(id=new_id(), raw=draft.raw),
                    alert=draft.normalized(),
                )
            )
        async with self.db.transaction(tenant_id) as session:
            if (previous := await reply.replay(session, requests, tenant_id)) is not None:
                return previous
        results = await self.writer.write(records)
        if not reply.request_id:
            return reply.render(results)
        async with self.db.transaction(tenant_id) as session:
            return await reply.answer(session, requests, tenant_id, results)

    async def get_alert(self, *, tenant_id: str, alert_id: str) -> StoredAlert:
        """One alert event of the tenant, with its raw body."""
        require_uuid(alert_id, "alert_id")
        async with self.db.transaction(tenant_id) as session:
            alert = await store.get_alert(session, alert_id)
        if alert is None:
            raise AlertNotFound(f"alert {alert_id} not found")
        return alert

    async def list_alerts(
        self,
        *,
        tenant_id: str,
        filters: AlertFilters,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[StoredAlert]:
        """A page of the tenant's alert events, newest first."""
        async with self.db.transaction(tenant_id) as session:
            return await store.list_alerts(session, filters=filters, before=before, limit=limit)
