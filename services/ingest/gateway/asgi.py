"""A minimal ASGI application for the webhook gateway.

Hand-written rather than Starlette: measured on this machine, Starlette halves raw ASGI
throughput, and this surface is five routes (ARCHITECTURE.md, performance facts).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson
from opentelemetry import propagate, trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from services.ingest.domain.alerts import NormalizationError, Provider
from services.ingest.domain.records import MAX_ALERTS_PER_WEBHOOK
from services.ingest.errors import (
    StorageUnavailable,
    TenantDeleted,
    TenantSuspended,
    TooManyAlerts,
    UnstorableAlert,
    WebhookRateLimited,
    WebhookUnauthorized,
)
from services.ingest.gateway.openapi import openapi_document
from services.ingest.gateway.problems import problem
from services.ingest.service import IngestService
from services.ingest.service.webhooks import Webhook

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Response = tuple[int, bytes, list[tuple[bytes, bytes]]]

tracer = trace.get_tracer("triage.ingest.gateway")
WEBHOOKS = Counter("triage_webhooks_total", "Webhooks answered", ["provider", "status"])
WEBHOOK_LATENCY = Histogram(
    "triage_webhook_seconds",
    "Webhook handling time until the answer",
    ["provider"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
PROVIDERS = frozenset(p.value for p in Provider)
ACCEPTED_TYPES = frozenset(
    {
        "",
        "application/json",
        "text/json",
        "application/xml",
        "text/xml",
        "text/plain",
        "application/x-www-form-urlencoded",
    }
)
JSON = [(b"content-type", b"application/json")]


class Gateway:
    """Routes: webhooks, health, readiness, metrics and the OpenAPI document."""

    #: How long a request's whole body may take to arrive (unless given to the constructor).
    BODY_TIMEOUT_SECONDS = 15.0

    def __init__(
        self,
        service: IngestService,
        *,
        ready: Callable[[], Awaitable[bool]],
        default_max_body: int = 256 * 1024,
        body_timeout_seconds: float | None = None,
    ) -> None:
        self._service = service
        self._ready = ready
        self._default_max_body = default_max_body
        self._body_timeout = (
            self.BODY_TIMEOUT_SECONDS if body_timeout_seconds is None else body_timeout_seconds
        )
        self._openapi = orjson.dumps(openapi_document())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/v1/webhooks/"):
            if method != "POST":
                await _respond(send, *_method_not_allowed("POST"))
                return
            await self._webhook(scope, receive, send)
            return
        routes = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/metrics": self._metrics,
            "/openapi.json": self._openapi_json,
        }
        handler = routes.get(path)
        if handler is None:
            await _respond(send, *problem(404, "not-found", "Not Found", f"no route {path}"))
        elif method not in ("GET", "HEAD"):
            await _respond(send, *_method_not_allowed("GET"))
        else:
            await _respond(send, *await handler())

    async def _healthz(self) -> Response:
        return 200, b'{"status":"ok"}', JSON

    async def _readyz(self) -> Response:
        if await self._ready():
            return 200, b'{"status":"ready"}', JSON
        return problem(503, "not-ready", "Not Ready", "storage or bus is unavailable")

    async def _metrics(self) -> Response:
        return 200, generate_latest(), [(b"content-type", CONTENT_TYPE_LATEST.encode())]

    async def _openapi_json(self) -> Response:
        return 200, self._openapi, JSON

    async def _webhook(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        parts = scope["path"].split("/")
        provider = parts[3] if len(parts) > 3 else ""
        label = provider if provider in PROVIDERS else "unknown"
        with tracer.start_as_current_span(
            "POST /v1/webhooks/{provider}/{integration_id}",
            context=propagate.extract(headers),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": "POST", "triage.provider": label},
        ) as span:
            try:
                status, body, extra = await self._handle_webhook(scope, receive, headers, parts)
            except asyncio.CancelledError:
                raise
            except Exception:
                span.record_exception(Exception("unhandled gateway error"))
                status, body, extra = problem(
                    503, "unavailable", "Service Unavailable", "try again later"
                )
                extra.append((b"retry-after", b"5"))
            span.set_attribute("http.response.status_code", status)
        WEBHOOKS.labels(label, str(status)).inc()
        WEBHOOK_LATENCY.labels(label).observe(time.perf_counter() - started)
        await _respond(send, status, body, extra)

    async def _handle_webhook(
        self, scope: Scope, receive: Receive, headers: dict[str, str], parts: list[str]
    ) -> Response:
        if len(parts) != 5 or parts[3] not in PROVIDERS or not parts[4]:
            return problem(
                404,
                "unknown-webhook",
                "Not Found",
                "use POST /v1/webhooks/{provider}/{integration_id} with a known provider",
                providers=sorted(PROVIDERS),
            )
        provider, integration_id = parts[3], parts[4]
        known = await self._service.webhook_body_limit(integration_id)
        limit = known if known is not None else self._default_max_body
        declared = headers.get("content-length")
        if declared is not None:
            try:
                declared_size = int(declared)
            except ValueError:
                return problem(400, "bad-request", "Bad Request", "invalid Content-Length")
            if declared_size > limit:
                return _too_large(limit)
        try:
            # The whole body within one deadline: a Content-Length that never arrives (or
            # arrives a byte at a time) must not hold a connection and a task forever.
            async with asyncio.timeout(self._body_timeout):
                body = await _read_body(receive, limit)
        except _Disconnected:
            return problem(400, "incomplete-body", "Bad Request", "the connection closed mid-body")
        except TimeoutError:
            status, payload, extra = problem(
                408,
                "request-timeout",
                "Request Timeout",
                f"the body did not arrive within {self._body_timeout:g} s",
            )
            extra.append((b"connection", b"close"))
            return status, payload, extra
        if body is None:
            return _too_large(limit)
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type not in ACCEPTED_TYPES:
            return problem(
                415,
                "unsupported-media-type",
                "Unsupported Media Type",
                f"{media_type} is not accepted; send JSON or XML",
                accepted=sorted(t for t in ACCEPTED_TYPES if t),
            )
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        webhook = Webhook(
            provider=provider,
            integration_id=integration_id,
            headers=headers,
            query_token=query.get("token", [None])[0],
            body=body,
            media_type=media_type or None,
        )
        try:
            results = await self._service.accept_webhook(webhook)
        except WebhookUnauthorized:
            status, payload, extra = problem(
                401,
                "unauthorized",
                "Unauthorized",
                "unknown integration or wrong secret (X-Triage-Secret, Bearer, ?token= "
                "or a valid X-Level-Signature)",
            )
            extra.append((b"www-authenticate", b'Bearer realm="triage-webhooks"'))
            return status, payload, extra
        except TenantSuspended:
            return problem(
                403,
                "tenant-suspended",
                "Forbidden",
                "this integration's tenant is suspended; nothing was stored. An administrator "
                "can resume it (triage tenants resume <tenant id>)",
                reason=TenantSuspended.reason,
            )
        except TenantDeleted as error:
            return problem(
                410,
                "tenant-deleted",
                "Gone",
                "this integration's tenant was deleted; nothing was stored",
                reason=error.reason,
            )
        except WebhookRateLimited as error:
            status, payload, extra = problem(
                429,
                "rate-limited",
                "Too Many Requests",
                f"this integration may send {error.rate:g} webhooks/s with bursts of "
                f"{error.burst:g} (per gateway replica)",
            )
            extra.append((b"retry-after", str(max(1, math.ceil(error.retry_after))).encode()))
            return status, payload, extra
        except TooManyAlerts as error:
            return problem(
                413,
                "too-many-alerts",
                "Payload Too Large",
                error.message,
                alerts=error.count,
                limit=MAX_ALERTS_PER_WEBHOOK,
            )
        except NormalizationError as error:
            return problem(
                400,
                "unreadable-body",
                "Bad Request",
                str(error),
                reason=error.reason,
                field=error.field,
            )
        except UnstorableAlert as error:
            return problem(
                400, "unstorable-alert", "Bad Request", error.message, reason=error.reason
            )
        except StorageUnavailable:
            status, payload, extra = problem(
                503, "storage-unavailable", "Service Unavailable", "alert storage is down; retry"
            )
            extra.append((b"retry-after", b"5"))
            return status, payload, extra
        answer = {
            "status": "accepted",
            "alert_ids": [r.alert_id for r in results],
            "duplicates": sum(1 for r in results if r.duplicate),
        }
        return 202, orjson.dumps(answer), JSON


class _Disconnected(Exception):
    """The client went away before its body was complete."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it grows past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # Never handle part of a body as if it were the whole of it.
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _too_large(limit: int) -> Response:
    return problem(
        413, "payload-too-large", "Payload Too Large", f"bodies are limited to {limit} bytes"
    )


def _method_not_allowed(allowed: str) -> Response:
    status, body, headers = problem(
        405, "method-not-allowed", "Method Not Allowed", f"use {allowed}"
    )
    headers.append((b"allow", allowed.encode()))
    return status, body, headers


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
