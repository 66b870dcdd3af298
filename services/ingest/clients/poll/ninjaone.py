"""NinjaOne: OAuth2 client credentials, ``GET /v2/alerts`` (one unpaged list of every
active alert), ``POST /v2/alert/{uid}/reset``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from .auth import token_from
from .base import ActiveAlert, Capability, JsonObject, OAuthPollClient, objects_in, text_id
from .http import exchange

#: The instance hosts NinjaOne documents; an integration's base URL is one of them.
REGIONS = {
    "us": "https://app.ninjarmm.com",
    "us2": "https://us2.ninjarmm.com",
    "eu": "https://eu.ninjarmm.com",
    "ca": "https://ca.ninjarmm.com",
    "oc": "https://oc.ninjarmm.com",
}
SCOPE = "monitoring management"
_PASSED_THROUGH = (
    "deviceId", "sourceConfigUid", "sourceName", "sourceType", "subject", "message",
    "severity", "priority", "data", "device",
)  # fmt: skip


def webhook_payload(alert: JsonObject, uid: str) -> dict[str, Any]:
    """A NinjaOne alert as the CONDITION/TRIGGERED activity the webhook normalizer reads.

    The series is ``device:{deviceId}:{sourceConfigUid}`` (an alert carries no
    ``seriesUid``; while the trigger polling created is open, the alert's webhooks join
    this series: domain/polled_series.py); ``id`` is a poll key, never a webhook activity id.
    """
    payload: dict[str, Any] = {
        key: alert[key] for key in _PASSED_THROUGH if alert.get(key) is not None
    }
    payload.update(
        id=f"poll:{uid}",
        activityType="CONDITION",
        type="CONDITION",
        statusCode="TRIGGERED",
        status="TRIGGERED",
        activityTime=alert.get("createTime"),
        alertUid=uid,
    )
    return payload


class NinjaOneClient(OAuthPollClient):
    """Active alerts and resets through the NinjaOne public API v2."""

    provider: ClassVar[str] = "ninjaone"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.POLLING, Capability.RESOLVE}
    )

    async def _fetch_token(self) -> tuple[str, float]:
        reply = await exchange(
            self.http,
            "POST",
            self.url("/ws/oauth/token"),
            bounds=self.bounds,
            data={
                "grant_type": "client_credentials",
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.secret,
                "scope": SCOPE,
            },
        )
        return token_from(reply)

    async def _pages(self) -> AsyncIterator[Sequence[JsonObject]]:
        reply = await self.call("GET", self.url("/v2/alerts"), "listing active alerts")
        yield objects_in(reply.json(), "listing active alerts")

    def _active(self, raw: JsonObject) -> ActiveAlert | None:
        uid = text_id(raw.get("uid"))
        if uid is None:
            return None
        return ActiveAlert(self.provider, uid, webhook_payload(raw, uid), f"poll:{uid}")

    async def resolve(self, alert_id: str) -> None:
        """Reset the alert (``POST /v2/alert/{uid}/reset``, 204)."""
        url = self.url(f"/v2/alert/{quote(alert_id, safe='')}/reset")
        await self.call("POST", url, "resetting alert")
