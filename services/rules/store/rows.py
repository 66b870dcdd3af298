"""Rows as the domain's frozen records."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def as_record(kind: type[T], row: Any) -> T:
    """The record ``kind`` of a result row that has (at least) its fields as attributes."""
    return kind(**{f.name: getattr(row, f.name) for f in fields(kind)})  # type: ignore[arg-type]
