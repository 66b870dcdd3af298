"""Text that PostgreSQL and protobuf can hold: no NUL, no lone surrogates.

PostgreSQL ``text`` and ``jsonb`` refuse NUL (``\\u0000``) and lone surrogates, and
protobuf cannot encode lone surrogates to UTF-8. JSON lets a sender put either in any
key or value, so every string an alert carries passes through here before it is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (never empties a value)."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)


def all_storable(texts: Iterable[str]) -> bool:
    """Whether every text is storable as it is (one scan over all of them)."""
    return _UNSTORABLE.search("".join(texts)) is None


def storable_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels with keys and values made storable; keys that collide keep the last value."""
    return {storable(key): storable(value) for key, value in labels.items()}
