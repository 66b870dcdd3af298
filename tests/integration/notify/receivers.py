"""A local HTTP receiver that can be down, verifies signatures and answers a script."""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.notify.clients.webhook import SIGNATURE_HEADER, verify_signature


@dataclass
class Answer:
    """One scripted answer."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request as received."""

    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool | None

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class HttpReceiver:
    """Listens on 127.0.0.1:``port`` once started; can be stopped and started again."""

    def __init__(
        self,
        port: int,
        *,
        secret: str | None = None,
        default: Callable[[Seen], Answer] | None = None,
    ) -> None:
        self.port = port
        self.secret = secret
        self.seen: list[Seen] = []
        self.script: deque[Answer] = deque()
        self.default = default or (lambda _seen: Answer())
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def event_counts(self) -> Counter[str]:
        """How many requests carried each event id."""
        with self._lock:
            return Counter(s.header("X-Triage-Event-Id") or "" for s in self.seen)

    def count(self) -> int:
        """Requests received so far."""
        with self._lock:
            return len(self.seen)

    def start(self) -> HttpReceiver:
        """Start listening."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _answer(self, seen: Seen) -> Answer:
        with self._lock:
            self.seen.append(seen)
            if seen.signature_valid is False:
                return Answer(401)
            if self.script:
                return self.script.popleft()
        return self.default(seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                valid = None
                if receiver.secret is not None:
                    valid = verify_signature(
                        receiver.secret, self.headers.get(SIGNATURE_HEADER), body
                    )
                answer = receiver._answer(Seen(self.path, dict(self.headers), body, valid))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
