"""Rows of the notify schema as the domain's frozen records (by column name)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from sqlalchemy.engine import Row

T = TypeVar("T")
#: A row of any shape.
AnyRow = Row[*tuple[Any, ...]]
_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _names(cls: type[Any]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def row_of(cls: type[T], row: AnyRow) -> T:
    """``row`` as ``cls``, taking the dataclass's fields by name (extra columns ignored)."""
    mapping = row._mapping
    return cls(**{name: mapping[name] for name in _names(cls) if name in mapping})
