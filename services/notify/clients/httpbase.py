"""One HTTP POST turned into an `AttemptResult`; shared by the HTTP-based senders."""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

import httpx

from services.notify.domain.model import AttemptResult, ErrorClass
from services.notify.domain.retry import classify_http, parse_retry_after

USER_AGENT = "Triage-Notify/1"
MAX_RESPONSE_BYTES = 64 * 1024
_REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-slack-req-id",
    "x-ms-request-id",
    "x-amzn-requestid",
    "x-github-request-id",
    "cf-ray",
)


def _is_tls_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError | ssl.CertificateError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _snippet(body: bytes, limit: int = 300) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The provider's request id from the usual response headers."""
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in _REQUEST_ID_HEADERS:
        if lowered.get(name):
            return lowered[name]
    return None


class HttpBody:
    """What came back from a POST: status, headers and at most 64 KiB of body."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout_seconds: float,
) -> tuple[AttemptResult, HttpBody | None]:
    """POST and classify; transport errors become failed results, never exceptions."""
    started = time.perf_counter()
    try:
        request = client.build_request(
            "POST",
            url,
            content=content,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=timeout_seconds,
        )
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await response.aclose()
    except httpx.TimeoutException as exc:
        return _failed(ErrorClass.TIMEOUT, f"timed out: {exc!r}", started), None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return _failed(ErrorClass.INVALID_CONFIG, str(exc), started, permanent=True), None
    except httpx.HTTPError as exc:
        kind = ErrorClass.TLS if _is_tls_error(exc) else ErrorClass.CONNECTION
        return _failed(kind, f"{type(exc).__name__}: {exc}", started), None
    except (ssl.SSLError, ssl.CertificateError) as exc:
        return _failed(ErrorClass.TLS, f"{type(exc).__name__}: {exc}", started), None
    except OSError as exc:
        return _failed(ErrorClass.CONNECTION, f"{type(exc).__name__}: {exc}", started), None
    latency = time.perf_counter() - started
    body = b"".join(chunks)[:MAX_RESPONSE_BYTES]
    response_headers = dict(response.headers)
    received = HttpBody(response.status_code, response_headers, body)
    request_id = request_id_from(response_headers)
    permanent, error_class = classify_http(response.status_code, response_headers)
    if error_class is None:
        result = AttemptResult.success(
            status_code=response.status_code, provider_request_id=request_id, latency=latency
        )
        return result, received
    retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
    detail = _snippet(body)
    message = f"HTTP {response.status_code}" + (f": {detail}" if detail else "")
    result = AttemptResult.failure(
        error_class,
        message,
        permanent=permanent,
        status_code=response.status_code,
        retry_after=retry_after,
        provider_request_id=request_id,
        latency=latency,
    )
    return result, received


def _failed(
    error_class: ErrorClass, message: str, started: float, *, permanent: bool = False
) -> AttemptResult:
    return AttemptResult.failure(
        error_class, message, permanent=permanent, latency=time.perf_counter() - started
    )


class HttpClientOwner:
    """Uses a shared `httpx.AsyncClient` when given one, else owns one it creates lazily.

    Only a client it created is closed by `aclose()`.
    """

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client
        self._owned: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        """The client to send with."""
        if self._client is not None:
            return self._client
        if self._owned is None:
            self._owned = httpx.AsyncClient(
                headers={"User-Agent": USER_AGENT}, follow_redirects=False
            )
        return self._owned

    async def aclose(self) -> None:
        """Close the client this sender created, if any."""
        if self._owned is not None:
            owned, self._owned = self._owned, None
            await owned.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
