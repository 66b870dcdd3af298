"""A fake NinjaOne/Datto API for outbound reset tests: records calls, fails on demand."""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CLIENT_ID = "triage-client"
CLIENT_SECRET = "s3cret-value"
DATTO_BASIC = "Basic " + base64.b64encode(b"public-client:public").decode()


@dataclass
class Call:
    """One request the fake provider received."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    at: float


@dataclass
class FakeProvider:
    """NinjaOne and Datto endpoints that record calls and fail on demand."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    active_alerts: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    issued: set[str] = field(default_factory=set)

    def fail(self, times: int, status: int, *, retry_after: str = "", body: bytes = b"") -> None:
        """Answer the next ``times`` reset/resolve calls with ``status``."""
        headers = {"retry-after": retry_after} if retry_after else {}
        self.failures.extend([(status, headers, body)] * times)

    def paths(self, suffix: str) -> list[Call]:
        """Calls whose path ends with ``suffix``."""
        return [c for c in self.calls if c.path.endswith(suffix)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The raw ASGI app."""
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        call = Call(scope["method"], scope["path"], headers, form, time.monotonic())
        self.calls.append(call)
        status, extra, payload = self._answer(call)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")]
                + [(k.encode(), v.encode()) for k, v in extra.items()],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _answer(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        path, method = call.path, call.method
        if method == "POST" and path == "/ws/oauth/token":
            ok = call.form == {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": "monitoring management",
            }
            return self._token(ok)
        if method == "POST" and path == "/auth/oauth/token":
            ok = call.headers.get("authorization") == DATTO_BASIC and call.form == {
                "grant_type": "password",
                "username": CLIENT_ID,
                "password": CLIENT_SECRET,
            }
            return self._token(ok)
        if call.headers.get("authorization", "").removeprefix("Bearer ") not in self.issued:
            return 401, {}, b'{"error":"invalid_token"}'
        if method == "GET" and path == "/v2/alerts":
            return 200, {}, orjson.dumps(self.active_alerts)
        if method == "POST" and path.endswith(("/reset", "/resolve")):
            if self.failures:
                return self.failures.pop(0)
            uid = path.split("/")[-2]
            self.active_alerts = [a for a in self.active_alerts if a["uid"] != uid]
            if path.endswith("/reset"):
                return 204, {}, b""
            return 200, {}, b'{"resolved":true}'
        return 404, {}, b'{"error":"not found"}'

    def _token(self, ok: bool) -> tuple[int, dict[str, str], bytes]:
        if not ok:
            return 401, {}, b'{"error":"invalid_client"}'
        token = uuid.uuid4().hex
        self.issued.add(token)
        return 200, {}, orjson.dumps({"access_token": token, "expires_in": 3600})


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
