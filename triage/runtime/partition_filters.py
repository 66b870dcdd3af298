"""Which subjects a partition reader asks JetStream for."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def _with_partition(pattern: str, partition: int) -> str:
    # "triage.alert.routed.>" and "triage.alert.routed.<tenant>" name the tenant token; the
    # partition token follows it.
    base = pattern[:-2] + ".*" if pattern.endswith(".>") else pattern
    return f"{base}.{partition}"


def reader_filters(patterns: Sequence[str], wanted: Iterable[int], partitions: int) -> list[str]:
    """The subjects a reader of ``wanted`` partitions asks JetStream for."""
    held = sorted(wanted)
    if len(held) == partitions:
        # Holding every partition (one replica): one filter per pattern, not one per
        # partition; JetStream reads a consumer with a single filter on its fastest path.
        return [s if s.endswith(".>") else f"{s}.*" for s in patterns]
    return [_with_partition(s, p) for s in patterns for p in held]


def filter_config(filters: list[str]) -> dict[str, Any]:
    """JetStream consumer settings for ``filters``: a single filter as ``filter_subject``."""
    return {"filter_subject": filters[0]} if len(filters) == 1 else {"filter_subjects": filters}
