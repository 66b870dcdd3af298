"""Datto RMM API v2: password-grant token through the public client, open alerts of the
account (``GET /api/v2/account/alerts/open``, paged by ``pageDetails.nextPageUrl``),
``POST /api/v2/alert/{alertUid}/resolve``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from .auth import token_from
from .base import ActiveAlert, Capability, JsonObject, OAuthPollClient, objects_in, text_id
from .errors import PermanentPollError
from .http import exchange, same_origin

#: The platform API hosts (the integration's base URL is the one its account lives on).
PLATFORMS = {
    platform: f"https://{platform}-api.centrastage.net"
    for platform in ("pinotage", "merlot", "concord", "vidal", "zinfandel", "syrah")
}
#: Datto's documented public OAuth client for API-key password grants.
PUBLIC_CLIENT = ("public-client", "public")
PAGE_SIZE = 250
#: Fields that change while an alert stays open; left out so a polled body is stable.
_VOLATILE = ("muted", "ticketNumber", "responseActions", "resolvedBy", "resolvedOn")


def webhook_payload(alert: JsonObject) -> dict[str, Any]:
    """The API alert object is what the Datto normalizer already reads (series = alertUid)."""
    return {key: value for key, value in alert.items() if key not in _VOLATILE}


class DattoClient(OAuthPollClient):
    """Open alerts and resolution through the Datto RMM API v2."""

    provider: ClassVar[str] = "datto"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.POLLING, Capability.RESOLVE}
    )

    async def _fetch_token(self) -> tuple[str, float]:
        reply = await exchange(
            self.http,
            "POST",
            self.url("/auth/oauth/token"),
            bounds=self.bounds,
            data={
                "grant_type": "password",
                "username": self.credentials.client_id,
                "password": self.credentials.secret,
            },
            auth=PUBLIC_CLIENT,
        )
        return token_from(reply)

    async def _pages(self) -> AsyncIterator[Sequence[JsonObject]]:
        url: str | None = self.url("/api/v2/account/alerts/open")
        params: dict[str, str | int] | None = {"max": PAGE_SIZE}
        while url is not None:
            body = (await self.call("GET", url, "listing open alerts", params=params)).json()
            if not isinstance(body, dict):
                body = {}
            yield objects_in(body.get("alerts"), "listing open alerts")
            details = body.get("pageDetails")
            url = text_id(details.get("nextPageUrl")) if isinstance(details, dict) else None
            if url is not None and not same_origin(url, self.credentials.root):
                raise PermanentPollError("foreign_next_page", url)
            params = None

    def _active(self, raw: JsonObject) -> ActiveAlert | None:
        uid = text_id(raw.get("alertUid"))
        if uid is None or raw.get("resolved") is True:
            return None
        return ActiveAlert(self.provider, uid, webhook_payload(raw), f"poll:{uid}")

    async def resolve(self, alert_id: str) -> None:
        """Resolve the alert (``POST /api/v2/alert/{alertUid}/resolve``)."""
        url = self.url(f"/api/v2/alert/{quote(alert_id, safe='')}/resolve")
        await self.call("POST", url, "resolving alert")
