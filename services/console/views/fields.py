"""API field violations placed beside a form's fields (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping

_INDEX = re.compile(r"\[[^\]]*\]")


def place(violations: Mapping[str, str], known: Mapping[str, str]) -> dict[str, str]:
    """``{form field: message}`` for API ``{field path: message}``.

    ``known`` maps API paths (without the request's message prefix, e.g.
    ``one_off.end_time``) to form fields. A path is tried whole, then without its leading
    segments (``maintenance_window.one_off.end_time`` finds ``one_off.end_time``), then a
    parent path; anything unplaceable goes under ``_`` (shown above the form)."""
    out: dict[str, str] = {}
    for path, text in violations.items():
        parts = _INDEX.sub("", path).split(".")
        key = "_"
        for start in range(len(parts)):
            for end in range(len(parts), start, -1):
                candidate = ".".join(parts[start:end])
                if candidate in known:
                    key = known[candidate]
                    break
            if key != "_":
                break
        out[key] = f"{out[key]}; {text}" if key in out else text
    return out
