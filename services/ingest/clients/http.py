"""The HTTP client for calls to provider APIs."""

from __future__ import annotations

import httpx


def default_http_client(timeout_seconds: float = 10.0) -> httpx.AsyncClient:
    """The shared client for provider APIs: bounded timeouts, no redirects, pooled."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        follow_redirects=False,
        headers={"user-agent": "triage-ingest/1 (outbound reset)"},
    )
