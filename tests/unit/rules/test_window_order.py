"""Window lists sort (and page) by the instant spelled as the API's JSON spells it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.rules.service.windows import sort_time
from triage.runtime import to_timestamp

MOMENTS = [
    datetime(2025, 6, 2, 9, 0, tzinfo=UTC),
    datetime(2025, 6, 2, 9, 0, 0, 500_000, tzinfo=UTC),
    datetime(2025, 6, 2, 9, 0, 0, 123_456, tzinfo=UTC),
    datetime(2025, 6, 2, 9, 0, 0, 1_000, tzinfo=UTC),
    datetime(2025, 3, 30, 2, 30, 15, tzinfo=timezone(timedelta(hours=2))),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_an_instant_is_spelled_as_a_json_timestamp(moment: datetime) -> None:
    assert sort_time(moment) == to_timestamp(moment).ToJsonString()


def test_no_instant_is_the_epoch() -> None:
    assert sort_time(None) == Timestamp().ToJsonString()
