"""Datetimes to protobuf Timestamps and back: exact to the microsecond, any offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from triage.runtime.events import from_timestamp, to_timestamp

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)


def _reference(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


@given(moments)
def test_matches_protobufs_own_conversion(moment: datetime) -> None:
    assert to_timestamp(moment) == _reference(moment)


@given(moments)
def test_round_trips_to_the_same_instant(moment: datetime) -> None:
    assert from_timestamp(to_timestamp(moment)) == moment


def test_before_the_epoch_nanos_stay_positive() -> None:
    stamp = to_timestamp(datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC))

    assert (stamp.seconds, stamp.nanos) == (-1, 999_999_000)


def test_a_naive_datetime_is_read_as_local_time() -> None:
    naive = datetime(2026, 11, 23, 3, 0)

    assert to_timestamp(naive) == _reference(naive)
