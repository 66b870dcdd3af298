"""UUIDv7 ids: valid, time-ordered, unique."""

from __future__ import annotations

import uuid

from triage.runtime.ids import new_id


def test_ids_are_version_7_rfc_9562_uuids() -> None:
    parsed = uuid.UUID(new_id())
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_the_time_part_is_the_creation_millisecond() -> None:
    at_ns = 1_763_856_000_123_456_789
    parsed = uuid.UUID(new_id(at_ns))
    assert parsed.int >> 80 == at_ns // 1_000_000


def test_later_ids_sort_after_earlier_ones_and_never_repeat() -> None:
    earlier = [new_id(1_000_000_000_000_000 + n * 1_000_000) for n in range(200)]
    assert earlier == sorted(earlier)
    assert len({new_id() for _ in range(10_000)}) == 10_000
