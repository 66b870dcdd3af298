"""Fake Tactical RMM: ``X-API-KEY``; ``PATCH /alerts/`` with filters, ``PUT /alerts/{id}/``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Answer, FakeApi, Request


def tactical_alert(alert_id: int, agent_id: str = "agent-abc", **extra: Any) -> dict[str, Any]:
    """An alert as Tactical's AlertSerializer renders it."""
    return {
        "id": alert_id,
        "hostname": "WS-ACCT-07",
        "agent_id": agent_id,
        "client": "Fabrikam Inc",
        "site": "Main Office",
        "alert_time": "2025-03-19T13:41:15.556209Z",
        "agent": 12,
        "assigned_check": 412,
        "assigned_task": None,
        "alert_type": "check",
        "message": "WS-ACCT-07 has a diskspace check: Disk space C: Drive < 15% that failed.",
        "snoozed": False,
        "snooze_until": None,
        "resolved": False,
        "resolved_on": None,
        "severity": "error",
        "email_sent": None,
        "hidden": False,
        **extra,
    }


class FakeTacticalRmm(FakeApi):
    """Tactical RMM with one API key."""

    def __init__(self, api_key: str = "tactical-key") -> None:
        """An instance accepting ``api_key`` in ``X-API-KEY``."""
        self.api_key = api_key
        super().__init__()

    def routes(self) -> list[tuple[str, str, Callable[..., Answer]]]:
        """List (PATCH with filters) and resolve (PUT type=resolve)."""
        return [
            ("PATCH", "/alerts/", self._list),
            ("PUT", r"/alerts/(?P<pk>\d+)/", self._update),
        ]

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("x-api-key") == self.api_key

    def _list(self, request: Request) -> Answer:
        if not self._authorized(request):
            return Answer(401, {"detail": "Authentication credentials were not provided."})
        filters = request.json() or {}
        alerts = self.alerts
        if "resolvedFilter" in filters and not filters["resolvedFilter"]:
            alerts = [a for a in alerts if not a.get("resolved")]
        if "snoozedFilter" in filters and not filters["snoozedFilter"]:
            alerts = [a for a in alerts if not a.get("snoozed")]
        return Answer(200, alerts)

    def _update(self, request: Request, pk: str) -> Answer:
        if not self._authorized(request):
            return Answer(401, {"detail": "Authentication credentials were not provided."})
        alert = next((a for a in self.alerts if str(a["id"]) == pk), None)
        if alert is None:
            return Answer(404, {"detail": "Not found."})
        if (request.json() or {}).get("type") != "resolve":
            return Answer(400, "There was an error in the request data")
        alert.update(resolved=True, resolved_on="2025-03-19T15:00:00Z", snoozed=False)
        self.resolved.append(pk)
        return Answer(200, "ok")
