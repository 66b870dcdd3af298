"""Level: the raw API key in ``Authorization``; ``GET /v2/alerts?status=active`` paged
with ``limit`` (1-100) and ``starting_after`` while ``has_more``;
``POST /v2/alerts/{id}/resolve``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from .base import ActiveAlert, Capability, JsonObject, PollClientBase, objects_in, text_id

BASE_URL = "https://api.level.io"
PAGE_SIZE = 100


def webhook_payload(alert: JsonObject, alert_id: str) -> dict[str, Any]:
    """An API alert wrapped in the ``alert_active`` envelope the Level webhook sends.

    The series is the alert id, as for the webhook; ``event_id`` is a poll key, never a
    webhook event id.
    """
    return {"event_type": "alert_active", "event_id": f"poll:{alert_id}", "data": dict(alert)}


class LevelClient(PollClientBase):
    """Active alerts and resolution through the Level v2 REST API."""

    provider: ClassVar[str] = "level"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.POLLING, Capability.RESOLVE}
    )

    def auth_headers(self) -> dict[str, str]:
        """Level takes the key itself, without a ``Bearer`` prefix."""
        return {"authorization": self.credentials.secret}

    async def _pages(self) -> AsyncIterator[Sequence[JsonObject]]:
        params: dict[str, str | int] = {"status": "active", "limit": PAGE_SIZE}
        while True:
            reply = await self.call("GET", self.url("/v2/alerts"), "listing alerts", params=params)
            body = reply.json()
            if not isinstance(body, dict):
                body = {}
            page = objects_in(body.get("data"), "listing alerts")
            yield page
            last = text_id(page[-1].get("id")) if page else None
            if body.get("has_more") is not True or last is None:
                return
            params = {**params, "starting_after": last}

    def _active(self, raw: JsonObject) -> ActiveAlert | None:
        alert_id = text_id(raw.get("id"))
        if alert_id is None or raw.get("is_resolved") is True:
            return None
        return ActiveAlert(
            self.provider, alert_id, webhook_payload(raw, alert_id), f"poll:{alert_id}"
        )

    async def resolve(self, alert_id: str) -> None:
        """Resolve the alert (``POST /v2/alerts/{id}/resolve``)."""
        url = self.url(f"/v2/alerts/{quote(alert_id, safe='')}/resolve")
        await self.call("POST", url, "resolving alert")
