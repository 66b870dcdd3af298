"""A stored resource with the timestamps the store keeps beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stored(Generic[T]):
    """A stored resource with its timestamps."""

    value: T
    created_at: datetime
    updated_at: datetime
