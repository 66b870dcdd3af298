"""Huntress: HTTP Basic with the account's API key and secret;
``GET /v1/incident_reports?status=...`` paged by ``limit`` (1-500) and
``pagination.next_page_token``; ``POST /v1/incident_reports/{id}/resolution``
(needs a user-based key allowed to resolve; 409/422 when remediations are pending)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from .base import ActiveAlert, Capability, JsonObject, PollClientBase, objects_in, text_id
from .errors import PermanentPollError

BASE_URL = "https://api.huntress.io"
PAGE_SIZE = 500
#: Report statuses that are still open; closed, dismissed and the rest are not listed.
ACTIVE_STATUSES = ("sent", "auto_remediating")


def webhook_payload(report: JsonObject) -> dict[str, Any]:
    """A polled report as the ``incident_report.created`` webhook event for it."""
    payload = dict(report)
    payload["event_type"] = "incident_report.created"
    if not isinstance(payload.get("organization"), dict):
        payload["organization"] = {"id": report.get("organization_id"), "name": None}
    return payload


class HuntressClient(PollClientBase):
    """Open incident reports and their resolution through the Huntress API v1."""

    provider: ClassVar[str] = "huntress"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.POLLING, Capability.RESOLVE}
    )

    def _check_credentials(self) -> None:
        if not self.credentials.client_id:
            raise PermanentPollError("missing_credentials", "huntress: API key")
        super()._check_credentials()

    def auth_headers(self) -> dict[str, str]:
        """Basic ``key:secret``."""
        pair = f"{self.credentials.client_id}:{self.credentials.secret}".encode()
        return {"authorization": "Basic " + base64.b64encode(pair).decode()}

    async def _pages(self) -> AsyncIterator[Sequence[JsonObject]]:
        for status in ACTIVE_STATUSES:
            params: dict[str, str | int] = {"status": status, "limit": PAGE_SIZE}
            while True:
                reply = await self.call(
                    "GET", self.url("/v1/incident_reports"), "listing reports", params=params
                )
                body = reply.json()
                if not isinstance(body, dict):
                    body = {}
                yield objects_in(body.get("incident_reports"), "listing reports")
                pagination = body.get("pagination")
                token = (
                    text_id(pagination.get("next_page_token"))
                    if isinstance(pagination, dict)
                    else None
                )
                if token is None:
                    break
                params = {**params, "page_token": token}

    def _active(self, raw: JsonObject) -> ActiveAlert | None:
        report_id = text_id(raw.get("id"))
        if report_id is None:
            return None
        key = f"incident_report:{report_id}:trigger"
        return ActiveAlert(self.provider, report_id, webhook_payload(raw), key)

    async def resolve(self, alert_id: str) -> None:
        """Resolve the incident report (``POST /v1/incident_reports/{id}/resolution``)."""
        url = self.url(f"/v1/incident_reports/{quote(alert_id, safe='')}/resolution")
        await self.call("POST", url, "resolving incident report")
