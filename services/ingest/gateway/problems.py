"""RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

import orjson

PROBLEM_TYPE_BASE = "https://triage.dev/problems/"


def problem(
    status: int, slug: str, title: str, detail: str, **extra: Any
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """A ``(status, body, headers)`` triple carrying an ``application/problem+json`` body."""
    body = {"type": PROBLEM_TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update(extra)
    return status, orjson.dumps(body), [(b"content-type", b"application/problem+json")]
