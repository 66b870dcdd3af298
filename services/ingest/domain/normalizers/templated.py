"""Field lookup for user-templated bodies (Tactical RMM, Datto RMM)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .payload import pick, pick_str


class TemplatedBody:
    """Looks fields up by our name: the integration's mapping first, then known spellings."""

    def __init__(
        self,
        body: Mapping[str, Any],
        candidates: Mapping[str, tuple[str, ...]],
        field_mapping: Mapping[str, str],
    ) -> None:
        """Wrap `body`; `candidates` lists the usual dotted paths for each field name."""
        self.body = body
        self._candidates = candidates
        self._mapping = field_mapping

    def _paths(self, name: str) -> tuple[str, ...]:
        mapped = self._mapping.get(name)
        defaults = self._candidates.get(name, (name,))
        return (mapped, *defaults) if mapped else defaults

    def value(self, name: str) -> Any:
        """The raw value for field `name` (None when absent or a None literal)."""
        return pick(self.body, self._paths(name))

    def text(self, name: str) -> str | None:
        """The cleaned text for field `name`."""
        return pick_str(self.body, self._paths(name))
