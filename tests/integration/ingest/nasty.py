"""Hypothesis strategies for hostile webhook bodies, shaped like each provider's.

A body starts from a real sample of the provider (the unit corpus), so it gets past
"not an object" and reaches normalization and storage, and then some of its objects get
keys and values no sender should send: NUL, lone surrogates, huge and endless numbers,
deep nesting, bytes that are not UTF-8.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parents[2] / "unit" / "ingest" / "corpus"
SPECIALS = ("\x00", "\ud800", "\udfff", "\ud83d", "\udc80", "k\x00", "\x00\x00", "None", "")


@dataclass(frozen=True)
class Raw:
    """Bytes written into a JSON body as they are (not valid JSON on their own terms)."""

    data: bytes


def seeds(provider: str) -> list[bytes]:
    """The corpus samples of ``provider``."""
    return [p.read_bytes() for p in sorted((CORPUS / provider).iterdir())]


nasty_text = st.lists(
    st.one_of(st.text(max_size=6), st.sampled_from(SPECIALS)), min_size=1, max_size=4
).map("".join)
raw_values = st.one_of(
    st.integers(1, 3000).map(lambda d: Raw(b"[" * d + b"]" * d)),
    st.integers(1, 3000).map(lambda d: Raw(b'{"a":' * d + b"1" + b"}" * d)),
    st.binary(min_size=1, max_size=12).map(
        lambda b: Raw(b'"' + b.replace(b'"', b"").replace(b"\\", b"") + b'"')
    ),
    st.sampled_from([Raw(b"1" + b"0" * 5000), Raw(b"1e999999"), Raw(b"-1e-999999")]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**40), 10**40),
    st.floats(allow_nan=False),
    nasty_text,
    raw_values,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=8,
)


def encode(value: Any) -> bytes:
    """JSON with ``Raw`` parts spliced in; strings keep NUL and lone surrogates as escapes."""
    if isinstance(value, Raw):
        return value.data
    if isinstance(value, dict):
        return b"{" + b",".join(encode(str(k)) + b":" + encode(v) for k, v in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(encode(v) for v in value) + b"]"
    return json.dumps(value).encode()


def _objects(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@st.composite
def json_bodies(draw: st.DrawFn, provider: str) -> bytes:
    """A corpus sample of ``provider`` with hostile keys and values put into its objects."""
    body = copy.deepcopy(json.loads(draw(st.sampled_from(seeds(provider)))))
    objects = _objects(body)
    for _ in range(draw(st.integers(1, 4))):
        if not objects:
            break
        target = draw(st.sampled_from(objects))
        existing = sorted(target)
        key = draw(st.sampled_from(existing) | nasty_text) if existing else draw(nasty_text)
        target[key] = draw(values)
    return encode(body)


_TEXT_NODE = re.compile(rb">([^<]*)<")


@st.composite
def xml_bodies(draw: st.DrawFn, provider: str) -> bytes:
    """An XML corpus sample with hostile text (and bytes, and nesting) in its elements."""
    body = draw(st.sampled_from(seeds(provider)))
    spots = [m.span(1) for m in _TEXT_NODE.finditer(body)]
    for _ in range(draw(st.integers(1, 3))):
        start, end = draw(st.sampled_from(spots))
        replacement = draw(
            st.one_of(
                nasty_text.map(lambda t: escape(t).encode("utf-8", "surrogatepass")),
                st.binary(max_size=12).map(lambda b: b.replace(b"<", b"").replace(b"&", b"")),
                st.integers(1, 3000).map(lambda d: b"<a>" * d + b"x" + b"</a>" * d),
            )
        )
        body = body[:start] + replacement + body[end:]
        spots = [m.span(1) for m in _TEXT_NODE.finditer(body)]
    return body


def bodies(provider: str) -> st.SearchStrategy[bytes]:
    """Hostile bodies for ``provider``."""
    return xml_bodies(provider) if provider == "ncentral" else json_bodies(provider)
