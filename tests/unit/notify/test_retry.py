from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.model import ErrorClass
from services.notify.domain.retry import (
    classify_http,
    next_attempt_delay,
    parse_retry_after,
    should_give_up,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class _Fixed:
    def __init__(self, fraction: float) -> None:
        self.fraction = fraction

    def uniform(self, a: float, b: float, /) -> float:
        return a + (b - a) * self.fraction


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, (False, None)),
        (202, (False, None)),
        (204, (False, None)),
        (301, (True, ErrorClass.INVALID_CONFIG)),
        (400, (True, ErrorClass.INVALID_CONFIG)),
        (401, (True, ErrorClass.AUTH)),
        (403, (True, ErrorClass.AUTH)),
        (404, (True, ErrorClass.NOT_FOUND)),
        (410, (True, ErrorClass.NOT_FOUND)),
        (408, (False, ErrorClass.TIMEOUT)),
        (413, (True, ErrorClass.INVALID_CONFIG)),
        (422, (True, ErrorClass.INVALID_CONFIG)),
        (429, (False, ErrorClass.RATE_LIMITED)),
        (500, (False, ErrorClass.SERVER_ERROR)),
        (502, (False, ErrorClass.SERVER_ERROR)),
        (503, (False, ErrorClass.SERVER_ERROR)),
    ],
)
def test_classify_http(status: int, expected: tuple[bool, ErrorClass | None]) -> None:
    assert classify_http(status, {}) == expected


def test_403_with_rate_limit_headers_is_transient() -> None:
    assert classify_http(403, {"Retry-After": "30"}) == (False, ErrorClass.RATE_LIMITED)
    assert classify_http(403, {"X-RateLimit-Remaining": "0"}) == (False, ErrorClass.RATE_LIMITED)
    assert classify_http(403, {"X-RateLimit-Remaining": "12"}) == (True, ErrorClass.AUTH)


@given(st.integers(min_value=400, max_value=499))
def test_every_4xx_but_408_and_429_is_permanent(status: int) -> None:
    permanent, error_class = classify_http(status, {})
    assert permanent is (status not in (408, 429))
    assert error_class is not None


@given(st.integers(min_value=500, max_value=599))
def test_5xx_is_transient_server_error(status: int) -> None:
    assert classify_http(status, {}) == (False, ErrorClass.SERVER_ERROR)


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" 7 ", NOW) == 7.0
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, NOW) == 90.0
    earlier = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(earlier, NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("", NOW) is None
    assert parse_retry_after(None, NOW) is None


@given(
    attempt=st.integers(min_value=0, max_value=200),
    base=st.floats(min_value=0.01, max_value=60),
    cap=st.floats(min_value=0.01, max_value=3600),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_full_jitter_bounds(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = next_attempt_delay(
        attempt, base=base, cap=cap, retry_after=None, rng=random.Random(seed)
    )
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(attempt, 64)) + 1e-9


def test_jitter_spans_the_whole_window() -> None:
    assert next_attempt_delay(3, base=1, cap=100, retry_after=None, rng=_Fixed(0.0)) == 0.0
    assert next_attempt_delay(3, base=1, cap=100, retry_after=None, rng=_Fixed(1.0)) == 8.0
    assert next_attempt_delay(10, base=1, cap=100, retry_after=None, rng=_Fixed(1.0)) == 100.0


def test_retry_after_is_a_floor() -> None:
    assert next_attempt_delay(0, base=1, cap=60, retry_after=30.0, rng=_Fixed(1.0)) == 30.0
    assert next_attempt_delay(8, base=1, cap=60, retry_after=5.0, rng=_Fixed(1.0)) == 60.0
    assert next_attempt_delay(0, base=1, cap=60, retry_after="45", rng=_Fixed(0.5)) == 45.0
    http_date = format_datetime(NOW + timedelta(seconds=120), usegmt=True)
    delay = next_attempt_delay(0, base=1, cap=60, retry_after=http_date, rng=_Fixed(0), now=NOW)
    assert delay == 120.0


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        next_attempt_delay(-1, base=1, cap=1, retry_after=None, rng=_Fixed(0))


def test_should_give_up_after_max_age() -> None:
    first = NOW
    assert not should_give_up(first, first + timedelta(hours=23, minutes=59))
    assert should_give_up(first, first + timedelta(hours=24))
    assert should_give_up(first, first + timedelta(minutes=10), max_age=timedelta(minutes=5))
