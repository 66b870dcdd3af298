"""Fake Level v2 REST API: raw key in ``Authorization``, ``GET /v2/alerts`` paged by
``starting_after``/``has_more``, ``POST /v2/alerts/{id}/resolve``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Answer, FakeApi, Request


def level_alert(alert_id: str, device_id: str = "dev_1", **extra: Any) -> dict[str, Any]:
    """A Level alert object (the shape of the webhook's ``data``)."""
    return {
        "id": alert_id,
        "device_id": device_id,
        "device_hostname": "web-prod-03",
        "name": "Memory usage above 95%",
        "description": "Memory usage has been above 95% for 10 minutes (97.3%).",
        "severity": "critical",
        "is_resolved": False,
        "started_at": "2025-03-19T13:41:15.000Z",
        "resolved_at": None,
        **extra,
    }


class FakeLevel(FakeApi):
    """Level with one API key."""

    def __init__(self, api_key: str = "level-key") -> None:
        """An account accepting ``api_key``."""
        self.api_key = api_key
        #: The most a page holds (Level's documented maximum is 100).
        self.page_cap = 100
        super().__init__()

    def routes(self) -> list[tuple[str, str, Callable[..., Answer]]]:
        """List and resolve."""
        return [
            ("GET", "/v2/alerts", self._list),
            ("POST", r"/v2/alerts/(?P<alert_id>[^/]+)/resolve", self._resolve),
        ]

    def _list(self, request: Request) -> Answer:
        if request.headers.get("authorization") != self.api_key:
            return Answer(401, {"error": "Access denied"})
        alerts = self.alerts
        status = request.query.get("status")
        if status == "active":
            alerts = [a for a in alerts if not a.get("is_resolved")]
        elif status == "resolved":
            alerts = [a for a in alerts if a.get("is_resolved")]
        after = request.query.get("starting_after")
        if after is not None:
            ids = [a["id"] for a in alerts]
            alerts = alerts[ids.index(after) + 1 :] if after in ids else []
        limit = min(int(request.query.get("limit", "20")), self.page_cap)
        return Answer(200, {"data": alerts[:limit], "has_more": len(alerts) > limit})

    def _resolve(self, request: Request, alert_id: str) -> Answer:
        if request.headers.get("authorization") != self.api_key:
            return Answer(401, {"error": "Access denied"})
        for alert in self.alerts:
            if alert["id"] == alert_id:
                alert.update(is_resolved=True, resolved_at="2025-03-19T15:00:00.000Z")
                self.resolved.append(alert_id)
                return Answer(200, alert)
        return Answer(404, {"error": "Not found"})
