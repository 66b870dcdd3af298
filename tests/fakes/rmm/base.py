"""The machinery every fake provider API shares: a bare ASGI app with a call log,
injected failures, OAuth tokens that expire after N calls, and JSON answers.

A test drives a fake directly (``fake.alerts = [...]``, ``fake.fail_next(429, ...)``) and
reaches it in-process through ``fake.client()`` (an ``httpx.AsyncClient`` on an
ASGI transport) or over real HTTP with ``tests.fakes.rmm.server.serving(fake)``.
"""

from __future__ import annotations

import base64
import re
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    origin: str

    def json(self) -> Any:
        """The body as JSON (None when empty or not JSON)."""
        try:
            return orjson.loads(self.body) if self.body else None
        except orjson.JSONDecodeError:
            return None

    def form(self) -> dict[str, str]:
        """The body as an urlencoded form."""
        return dict(parse_qsl(self.body.decode()))

    def basic_auth(self) -> tuple[str, str] | None:
        """The (user, password) of a Basic ``Authorization`` header, if any."""
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password


@dataclass(frozen=True, slots=True)
class Answer:
    """What the fake sends back."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass(slots=True)
class _Failure:
    answer: Answer
    times: int
    path_prefix: str


Route = tuple[str, re.Pattern[str], Callable[..., Answer]]


class FakeApi:
    """An in-process provider API; subclasses add their routes in ``routes()``."""

    #: Paths of the token endpoint (not counted as API calls, failures skip it by default).
    token_path: str | None = None

    def __init__(self) -> None:
        """Empty state, no failures, tokens that never expire."""
        self.alerts: list[dict[str, Any]] = []
        self.calls: list[Request] = []
        self.resolved: list[str] = []
        self.tokens_issued = 0
        self.token_calls = 0
        #: After this many API calls a token answers 401 (None: never).
        self.token_lifetime_calls: int | None = None
        self.expires_in = 3600
        self._token_uses: dict[str, int] = {}
        self._failures: deque[_Failure] = deque()
        self._routes: list[Route] = [
            (method, re.compile(f"^{pattern}$"), handler)
            for method, pattern, handler in self.routes()
        ]

    # -- control ---------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Callable[..., Answer]]]:
        """(method, path regex, handler(request, **groups)) for every endpoint."""
        return []

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        body: bytes = b'{"error": "injected"}',
        path_prefix: str = "",
    ) -> None:
        """Answer the next ``times`` API calls (under ``path_prefix``) with ``status``."""
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        self._failures.append(
            _Failure(Answer(status, headers=headers, raw=body), times, path_prefix)
        )

    def api_calls(self, method: str | None = None, path_prefix: str = "") -> list[Request]:
        """Calls other than token requests, optionally by method and path."""
        return [
            c
            for c in self.calls
            if c.path != self.token_path
            and (method is None or c.method == method)
            and c.path.startswith(path_prefix)
        ]

    def client(self) -> httpx.AsyncClient:
        """An HTTP client that reaches this fake in-process."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self), base_url=self.origin)

    origin = "http://rmm.fake"

    # -- tokens ----------------------------------------------------------------------

    def issue_token(self) -> Answer:
        """A fresh bearer token in the OAuth token response shape."""
        self.tokens_issued += 1
        token = f"tok-{self.tokens_issued}"
        self._token_uses[token] = 0
        return Answer(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in},
        )

    def bearer_ok(self, request: Request) -> bool:
        """Whether the request carries a live token (and spend one of its calls)."""
        value = request.headers.get("authorization", "")
        token = value[7:] if value.lower().startswith("bearer ") else ""
        uses = self._token_uses.get(token)
        if uses is None:
            return False
        if self.token_lifetime_calls is not None and uses >= self.token_lifetime_calls:
            return False
        self._token_uses[token] = uses + 1
        return True

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (lifespan events are acknowledged)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        request = await _read(scope, receive)
        self.calls.append(request)
        answer = self._dispatch(request)
        await _write(send, answer)

    def _dispatch(self, request: Request) -> Answer:
        if request.path == self.token_path:
            self.token_calls += 1
        else:
            injected = self._injected(request)
            if injected is not None:
                return injected
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(request, **match.groupdict())
        return Answer(404, {"error": "no route"})

    def _injected(self, request: Request) -> Answer | None:
        for failure in self._failures:
            if request.path.startswith(failure.path_prefix):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure.answer
        return None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read(scope: Scope, receive: Receive) -> Request:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    host = headers.get("host", "rmm.fake")
    return Request(
        method=scope["method"],
        path=scope["path"],
        query=dict(parse_qsl(scope.get("query_string", b"").decode())),
        headers=headers,
        body=b"".join(chunks),
        origin=f"{scope.get('scheme', 'http')}://{host}",
    )


async def _write(send: Send, answer: Answer) -> None:
    if answer.raw is not None:
        body = answer.raw
    elif answer.body is None:
        body = b""
    else:
        body = orjson.dumps(answer.body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def page_of(
    items: list[dict[str, Any]], start: int, size: int
) -> tuple[list[dict[str, Any]], bool]:
    """Items ``start``..``start+size`` and whether more follow."""
    return items[start : start + size], start + size < len(items)
