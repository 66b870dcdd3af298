"""Text helpers: lenient decoding, None-literal cleaning, truncation, stable hashes."""

from __future__ import annotations

import hashlib
import re

_NONE_LITERALS = frozenset({"", "none", "null", "nil", "undefined"})
_LONGEST_NONE_LITERAL = max(map(len, _NONE_LITERALS))
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})
ID_LIMIT = 255
NAME_LIMIT = 512


def _as_cp1252(match: re.Match[str]) -> str:
    data = bytes(ord(char) - 0xDC00 for char in match.group())
    return data.decode("cp1252", errors="replace")


def _unstorable(match: re.Match[str]) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates cannot be encoded at all.
    return "" if match.group() == "\x00" else "\ufffd"


def decode(raw: bytes) -> str:
    """Decode a body as UTF-8; bytes that are not UTF-8 are read as Windows-1252.

    Agents on Windows often paste cp1252 script output into otherwise UTF-8 bodies,
    so only the invalid bytes are reinterpreted. Never raises.
    """
    text = raw.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    return _ESCAPED_BYTES.sub(_as_cp1252, text)


def clean(value: object) -> str | None:
    """Scalar to trimmed text; None, containers and literals like "None"/"" become None."""
    # Called for every field of every alert: strings (most values) take the short way.
    if type(value) is str:
        text = value
    elif value is None or isinstance(value, dict | list | tuple):
        return None
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        text = str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    else:
        text = str(value)
    if _UNSTORABLE.search(text) is not None:
        text = _UNSTORABLE.sub(_unstorable, text)
    text = text.strip()
    if len(text) <= _LONGEST_NONE_LITERAL and text.lower() in _NONE_LITERALS:
        return None
    return text


def clean_text(value: object) -> str:
    """Like `clean` but never None: a missing value is the empty string."""
    return clean(value) or ""


def to_bool(value: object) -> bool | None:
    """Interpret booleans sent as JSON booleans, numbers or "True"/"False" strings."""
    if isinstance(value, bool):
        return value
    text = clean(value)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def first_line(text: str, limit: int) -> str:
    """First non-blank line of `text`, truncated to `limit` characters."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped:
            return truncate(stripped, limit)
    return ""


def stable_hash(*parts: str) -> str:
    """A short, stable hex digest of the parts (separator-safe)."""
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", errors="surrogatepass")
        digest.update(b"%d:" % len(encoded))
        digest.update(encoded)
    return digest.hexdigest()[:32]


def bounded_key(text: str, limit: int = ID_LIMIT) -> str:
    """Keep identifiers index-friendly: an over-long key keeps a prefix plus its hash."""
    if len(text) <= limit:
        return text
    return text[: limit - 33] + "~" + stable_hash(text)
