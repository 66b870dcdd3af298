"""Opaque keyset page tokens bound to the filters they were issued for."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from triage.runtime.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    """Clamp a requested page size (0 means the default)."""
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def filters_digest(filters: Any) -> str:
    """A short digest of the request's filters; a token only works with the same filters."""
    canonical = json.dumps(filters, sort_keys=True, default=str).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


def encode_page_token(position: dict[str, Any], *, filters: Any) -> str:
    """Encode the keyset position after the last row of a page."""
    payload = {"p": position, "f": filters_digest(filters)}
    raw = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, *, filters: Any) -> dict[str, Any] | None:
    """The keyset position of ``token`` (None for the first page); INVALID_ARGUMENT if bad."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        position = payload["p"]
        digest = payload["f"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument.field("page_token", "not a token this service issued") from exc
    if digest != filters_digest(filters) or not isinstance(position, dict):
        raise InvalidArgument.field("page_token", "was issued for different filters")
    return position


T = TypeVar("T")


def page_of(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """A page from a read of ``limit + 1`` rows: the first ``limit`` and whether more follow."""
    return list(rows[:limit]), len(rows) > limit
