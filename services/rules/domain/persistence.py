"""Persistence delay: open a ticket only after N triggers within a span."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta


def persistence_satisfied(
    trigger_times: Sequence[datetime], now: datetime, count: int, within: timedelta
) -> bool:
    """Whether at least `count` triggers fall in `[now - within, now]` (later ones are ignored)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    start = now - within
    return sum(1 for t in trigger_times if start <= t <= now) >= count
