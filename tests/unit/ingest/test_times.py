from datetime import UTC, datetime

import pytest

from services.ingest.domain.normalizers.times import localize, parse_time

NY = "America/New_York"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1742391675.556, datetime(2025, 3, 19, 13, 41, 15, 556000, tzinfo=UTC)),
        (1742391675, datetime(2025, 3, 19, 13, 41, 15, tzinfo=UTC)),
        (1742391675556, datetime(2025, 3, 19, 13, 41, 15, 556000, tzinfo=UTC)),
        ("1742391675.556", datetime(2025, 3, 19, 13, 41, 15, 556000, tzinfo=UTC)),
        ("1742391675556", datetime(2025, 3, 19, 13, 41, 15, 556000, tzinfo=UTC)),
        ("2025-03-19T13:41:15Z", datetime(2025, 3, 19, 13, 41, 15, tzinfo=UTC)),
        ("2025-03-19T14:41:15.5+01:00", datetime(2025, 3, 19, 13, 41, 15, 500000, tzinfo=UTC)),
        (
            "2025-03-19 13:41:15.556209+00:00",
            datetime(2025, 3, 19, 13, 41, 15, 556209, tzinfo=UTC),
        ),
    ],
)
def test_supported_formats(value: object, expected: datetime) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    "value",
    [None, "None", "", "  ", "null", 0, -5, True, "garbage", "0001-01-01T00:00:00Z", float("nan"),
     1e300, "5", [], {}],
)  # fmt: skip
def test_missing_or_implausible_values_are_none(value: object) -> None:
    assert parse_time(value, NY) is None


def test_naive_time_uses_integration_zone() -> None:
    assert parse_time("2025-03-19 09:41:15", NY) == datetime(2025, 3, 19, 13, 41, 15, tzinfo=UTC)
    assert parse_time("2025-01-19 09:41:15", NY) == datetime(2025, 1, 19, 14, 41, 15, tzinfo=UTC)
    assert parse_time("2025-03-19 09:41:15") == datetime(2025, 3, 19, 9, 41, 15, tzinfo=UTC)


def test_naive_time_across_dst_changes() -> None:
    before = parse_time("2025-03-09 01:59:59", NY)
    in_gap = parse_time("2025-03-09 02:30:00", NY)
    after = parse_time("2025-03-09 03:00:00", NY)
    assert before == datetime(2025, 3, 9, 6, 59, 59, tzinfo=UTC)
    assert in_gap == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)
    assert after == datetime(2025, 3, 9, 7, 0, tzinfo=UTC)
    ambiguous = parse_time("2025-11-02 01:30:00", NY)
    assert ambiguous == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
    assert parse_time("2025-11-02 02:30:00", NY) == datetime(2025, 11, 2, 7, 30, tzinfo=UTC)


def test_unknown_zone_falls_back_to_utc() -> None:
    naive = datetime(2025, 3, 19, 9, 0)
    assert localize(naive, "Mars/Olympus_Mons") == datetime(2025, 3, 19, 9, 0, tzinfo=UTC)
    assert parse_time("2025-03-19 09:00:00", "") == datetime(2025, 3, 19, 9, 0, tzinfo=UTC)


def test_result_is_always_utc() -> None:
    parsed = parse_time("2025-03-19T13:41:15-04:00", NY)
    assert parsed is not None
    assert parsed.tzinfo is UTC
