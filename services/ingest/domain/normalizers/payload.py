"""JSON body helpers shared by the JSON providers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from services.ingest.domain.alerts import NormalizationError

from .text import clean, decode

JsonObject = Mapping[str, Any]


def load_json(raw: bytes) -> Any:
    """Parse a body as JSON; raise NormalizationError when it is not JSON at all."""
    text = decode(raw)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        # The standard parser also takes NaN/Infinity and integers beyond 64 bits.
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise NormalizationError("invalid_json", detail=str(exc)[:200]) from exc


def as_objects(value: Any, *, what: str = "body") -> list[JsonObject]:
    """A JSON object, or a list of them, as a list of objects."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        objects: list[JsonObject] = [item for item in value if isinstance(item, dict)]
        if objects:
            return objects
    raise NormalizationError("not_an_object", field=what, detail="expected a JSON object")


def obj(value: Any) -> JsonObject:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def dig(body: Any, path: str) -> Any:
    """Follow a dotted path through nested objects; None where it breaks off.

    A key that itself contains dots (e.g. `alert.id` as a flat key) wins over nesting.
    """
    if not isinstance(body, dict):
        return None
    if path in body:
        return body[path]
    head, _, rest = path.partition(".")
    if not rest:
        return None
    return dig(body.get(head), rest)


def pick(body: Any, paths: Iterable[str]) -> Any:
    """The first value along `paths` that is not empty or a None literal."""
    for path in paths:
        value = dig(body, path)
        if isinstance(value, dict | list):
            if value:
                return value
        elif clean(value) is not None:
            return value
    return None


def pick_str(body: Any, paths: Iterable[str]) -> str | None:
    """The first scalar along `paths`, cleaned to text."""
    for path in paths:
        text = clean(dig(body, path))
        if text is not None:
            return text
    return None


def scalar_labels(values: Mapping[str, Any]) -> dict[str, str]:
    """Flat string labels from the scalar entries of a mapping."""
    labels: dict[str, str] = {}
    for key, value in values.items():
        text = clean(value)
        if text is not None and isinstance(key, str):
            labels[key] = text
    return labels


def dumps(value: Any) -> str:
    """Render any parsed JSON value as compact, readable JSON text; never raises."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (TypeError, ValueError):
        pass
    try:
        return json.dumps(value, indent=2, default=str)
    except (TypeError, ValueError, RecursionError):
        return "<unrenderable>"
