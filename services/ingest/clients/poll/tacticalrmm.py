"""Tactical RMM: ``X-API-KEY``; ``PATCH /alerts/`` with ``{"resolvedFilter": false}``
lists every unresolved alert (unpaged, snoozed ones included); ``PUT /alerts/{id}/`` with
``{"type": "resolve"}`` resolves one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

from .base import ActiveAlert, Capability, JsonObject, PollClientBase, objects_in, text_id
from .errors import PermanentPollError

_RENAMED = {
    "agent_id": "agent_id",
    "hostname": "hostname",
    "client": "client",
    "site": "site",
    "alert_type": "alert_type",
    "assigned_check": "check_id",
    "assigned_task": "task_id",
    "severity": "severity",
    "message": "message",
    "alert_time": "alert_time",
    "snoozed": "snoozed",
}


def webhook_payload(alert: JsonObject, alert_id: str) -> dict[str, Any]:
    """An API alert in the field names of the documented webhook template.

    The series is ``{agent_id}:{alert_id}``, as for a webhook whose template sends
    ``alert_id`` (docs/POLLING.md); ``event`` is "trigger" because the alert is open.
    """
    payload: dict[str, Any] = {"event": "trigger", "alert_id": alert_id}
    for source, target in _RENAMED.items():
        value = alert.get(source)
        if value is not None and not isinstance(value, dict | list):
            payload[target] = value
    return payload


class TacticalRmmClient(PollClientBase):
    """Unresolved alerts and resolution through the Tactical RMM REST API."""

    provider: ClassVar[str] = "tacticalrmm"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.POLLING, Capability.RESOLVE}
    )

    def auth_headers(self) -> dict[str, str]:
        """The integration's API key."""
        return {"x-api-key": self.credentials.secret}

    async def _pages(self) -> AsyncIterator[Sequence[JsonObject]]:
        reply = await self.call(
            "PATCH", self.url("/alerts/"), "listing alerts", json={"resolvedFilter": False}
        )
        yield objects_in(reply.json(), "listing alerts")

    def _active(self, raw: JsonObject) -> ActiveAlert | None:
        alert_id = text_id(raw.get("id"))
        if alert_id is None or raw.get("resolved") is True:
            return None
        return ActiveAlert(
            self.provider, alert_id, webhook_payload(raw, alert_id), f"poll:{alert_id}"
        )

    async def resolve(self, alert_id: str) -> None:
        """Resolve the alert (``PUT /alerts/{id}/`` with ``{"type": "resolve"}``)."""
        if not alert_id.isdigit():
            # Tactical alert ids are integers; anything else would reach another route.
            raise PermanentPollError("bad_alert_id", alert_id[:64])
        await self.call(
            "PUT", self.url(f"/alerts/{alert_id}/"), "resolving alert", json={"type": "resolve"}
        )
