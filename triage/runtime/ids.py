"""Identifiers for rows and events: UUIDv7 (RFC 9562), ordered by creation time.

A random (v4) id lands on a random leaf of every B-tree index it is in: under load each
insert dirties another page, and after each checkpoint each such page is written to the WAL
in full. A v7 id starts with its creation time in milliseconds, so new ids go to the right
edge of the index, as a sequence would, while 74 random bits keep them unguessable.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1


def new_id(now_ns: int | None = None) -> str:
    """A new UUIDv7 as text; ``now_ns`` (Unix nanoseconds) fixes the time part for tests."""
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & ((1 << 48) - 1)) << 80
        | _VERSION
        | ((random >> 62) & _RAND_A) << 64
        | _VARIANT
        | random & _RAND_B
    )
    return str(uuid.UUID(int=value))
