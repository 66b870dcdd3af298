"""One bounded HTTP exchange with a provider API, and what its status means."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from .errors import PermanentPollError, PollBoundsExceeded, RateLimited, TransientPollError

#: Longest Retry-After honoured; a provider asking for more is waited out at the next cycle.
MAX_RETRY_AFTER_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Bounds:
    """Limits on one listing; all on by default so one provider cannot stall a worker."""

    request_seconds: float = 30.0
    listing_seconds: float = 300.0
    max_pages: int = 100
    max_alerts: int = 20_000
    max_response_bytes: int = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's answer, read whole (within the byte bound)."""

    status: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        """The body as JSON; an unreadable body is transient (a proxy's HTML page, a cut)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise TransientPollError("unreadable_response", str(exc), status=self.status) from exc

    def text(self) -> str:
        """The body as text, for error details."""
        return self.body[:300].decode("utf-8", errors="replace")


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = (moment - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, delta), MAX_RETRY_AFTER_SECONDS)


def same_origin(url: str, root: str) -> bool:
    """Whether ``url`` points at the same scheme, host and port as ``root``.

    A next-page link elsewhere would carry the integration's credentials to another host.
    """
    a, b = urlsplit(url), urlsplit(root)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


async def exchange(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    bounds: Bounds,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str | int] | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> Reply:
    """Send one request and read its answer within the time and byte bounds.

    Transport failures and timeouts raise TransientPollError; an answer over
    ``max_response_bytes`` raises PollBoundsExceeded; HTTP statuses come back as they are.
    """
    try:
        async with asyncio.timeout(bounds.request_seconds):
            async with http.stream(
                method,
                url,
                headers=dict(headers or {}),
                params=dict(params) if params else None,
                json=json,
                data=dict(data) if data is not None else None,
                auth=auth,
                timeout=bounds.request_seconds,
            ) as response:
                body = await _read_bounded(response, bounds.max_response_bytes)
                return Reply(response.status_code, response.headers, body)
    except TimeoutError as exc:
        raise TransientPollError("timeout", f"{method} {_path(url)}") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise PermanentPollError("bad_base_url", str(exc)) from exc
    except httpx.TransportError as exc:
        raise TransientPollError("connection_error", f"{type(exc).__name__}: {exc}") from exc


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PollBoundsExceeded("response_too_large", f"{declared} bytes > {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise PollBoundsExceeded("response_too_large", f"more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _path(url: str) -> str:
    return urlsplit(url).path


def require_ok(reply: Reply, step: str) -> Reply:
    """``reply`` if it is 2xx; otherwise the typed error its status means."""
    code = reply.status
    if 200 <= code < 300:
        return reply
    detail = f"{step}: {reply.text()}"
    wait = retry_after_seconds(reply.headers.get("retry-after"))
    if code == 429:
        raise RateLimited(wait, detail)
    if code == 408 or code >= 500:
        raise TransientPollError("provider_error", detail, status=code, retry_after_seconds=wait)
    reason = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(code, "rejected")
    raise PermanentPollError(reason, detail, status=code)
