"""Fake NinjaOne public API v2: client-credentials tokens, ``GET /v2/alerts``,
``POST /v2/alert/{uid}/reset``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Answer, FakeApi, Request


def ninja_alert(uid: str, device_id: int, config_uid: str, **extra: Any) -> dict[str, Any]:
    """A NinjaOne alert object as ``GET /v2/alerts`` returns it."""
    return {
        "uid": uid,
        "deviceId": device_id,
        "message": f"Condition {config_uid} on device {device_id}",
        "createTime": 1742391675.556,
        "updateTime": 1742391675.556,
        "sourceType": "CONDITION",
        "sourceConfigUid": config_uid,
        "sourceName": "Disk Space - C: below 10%",
        "subject": "Disk space on C: is below 10%",
        "userId": 0,
        "psaTicketId": 0,
        "ticketTemplateId": 0,
        "data": {"message": {"code": "CONDITION_DISK_FREE_SPACE", "params": {}}},
        "device": {"id": device_id, "organizationId": 7, "locationId": 12, "displayName": "FS01"},
        **extra,
    }


class FakeNinjaOne(FakeApi):
    """NinjaOne with one API client (``client_id`` / ``client_secret``)."""

    token_path = "/ws/oauth/token"

    def __init__(
        self, client_id: str = "ninja-client", client_secret: str = "ninja-secret"
    ) -> None:
        """A tenant whose API client is ``client_id``/``client_secret``."""
        self.client_id = client_id
        self.client_secret = client_secret
        super().__init__()

    def routes(self) -> list[tuple[str, str, Callable[..., Answer]]]:
        """Token, list and reset."""
        return [
            ("POST", "/ws/oauth/token", self._token),
            ("GET", "/v2/alerts", self._list),
            ("POST", r"/v2/alert/(?P<uid>[^/]+)/reset", self._reset),
        ]

    def _token(self, request: Request) -> Answer:
        form = request.form()
        if form.get("grant_type") != "client_credentials":
            return Answer(400, {"error": "unsupported_grant_type"})
        if (form.get("client_id"), form.get("client_secret")) != (
            self.client_id,
            self.client_secret,
        ):
            return Answer(401, {"error": "invalid_client"})
        return self.issue_token()

    def _list(self, request: Request) -> Answer:
        if not self.bearer_ok(request):
            return Answer(401, {"error": "invalid_token"})
        return Answer(200, self.alerts)

    def _reset(self, request: Request, uid: str) -> Answer:
        if not self.bearer_ok(request):
            return Answer(401, {"error": "invalid_token"})
        before = len(self.alerts)
        self.alerts = [a for a in self.alerts if a.get("uid") != uid]
        if len(self.alerts) == before:
            return Answer(404, {"resultCode": "FAILURE", "errorMessage": "alert not found"})
        self.resolved.append(uid)
        return Answer(204)
