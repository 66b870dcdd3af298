"""Fake Datto RMM API v2: password-grant tokens through the public client, open alerts
paged by ``pageDetails.nextPageUrl``, ``POST /api/v2/alert/{uid}/resolve``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Answer, FakeApi, Request, page_of


def datto_alert(uid: str, device_uid: str = "dev-1", **extra: Any) -> dict[str, Any]:
    """A Datto alert object as the open-alerts listing returns it."""
    return {
        "alertUid": uid,
        "priority": "High",
        "diagnostics": f"Alert {uid} on SQL-01",
        "resolved": False,
        "resolvedBy": None,
        "resolvedOn": None,
        "muted": False,
        "ticketNumber": None,
        "timestamp": 1742391675123,
        "alertMonitorInfo": {"sendsEmails": True, "createsTicket": False},
        "alertContext": {"@class": "disk_usage_ctx", "diskName": "D:"},
        "alertSourceInfo": {
            "deviceUid": device_uid,
            "deviceName": "SQL-01",
            "siteUid": "site-1",
            "siteName": "Litware Hospital",
        },
        "responseActions": [],
        "autoresolveMins": 0,
        **extra,
    }


class FakeDatto(FakeApi):
    """Datto RMM with one API key/secret pair."""

    token_path = "/auth/oauth/token"

    def __init__(self, api_key: str = "datto-key", api_secret: str = "datto-secret") -> None:
        """An account whose API user is ``api_key``/``api_secret``."""
        self.api_key = api_key
        self.api_secret = api_secret
        #: The most a page holds, whatever ``max`` asks (Datto's default is 50).
        self.page_cap = 250
        #: Where nextPageUrl points (None: this fake's own origin).
        self.next_page_origin: str | None = None
        super().__init__()
        self.expires_in = 360000

    def routes(self) -> list[tuple[str, str, Callable[..., Answer]]]:
        """Token, open alerts and resolve."""
        return [
            ("POST", "/auth/oauth/token", self._token),
            ("GET", "/api/v2/account/alerts/open", self._open),
            ("POST", r"/api/v2/alert/(?P<uid>[^/]+)/resolve", self._resolve),
        ]

    def _token(self, request: Request) -> Answer:
        if request.basic_auth() != ("public-client", "public"):
            return Answer(401, {"error": "unauthorized"})
        form = request.form()
        if form.get("grant_type") != "password":
            return Answer(400, {"error": "unsupported_grant_type"})
        if (form.get("username"), form.get("password")) != (self.api_key, self.api_secret):
            return Answer(400, {"error": "invalid_grant"})
        return self.issue_token()

    def _open(self, request: Request) -> Answer:
        if not self.bearer_ok(request):
            return Answer(401, {"error": "invalid_token"})
        page = int(request.query.get("page", "0"))
        size = min(int(request.query.get("max", "50")), self.page_cap)
        open_alerts = [a for a in self.alerts if not a.get("resolved")]
        items, more = page_of(open_alerts, page * size, size)
        origin = self.next_page_origin or request.origin
        base = f"{origin}/api/v2/account/alerts/open"
        return Answer(
            200,
            {
                "pageDetails": {
                    "count": len(items),
                    "totalCount": len(open_alerts),
                    "prevPageUrl": f"{base}?page={page - 1}&max={size}" if page else None,
                    "nextPageUrl": f"{base}?page={page + 1}&max={size}" if more else None,
                },
                "alerts": items,
            },
        )

    def _resolve(self, request: Request, uid: str) -> Answer:
        if not self.bearer_ok(request):
            return Answer(401, {"error": "invalid_token"})
        for alert in self.alerts:
            if alert["alertUid"] == uid:
                alert["resolved"] = True
                self.resolved.append(uid)
                return Answer(200, {})
        return Answer(404, {"message": "alert not found"})
