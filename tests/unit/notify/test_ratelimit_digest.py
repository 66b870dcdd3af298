from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.domain.digest import DIGEST_EVENT_TYPE, build_digest, flush_held
from services.notify.domain.model import NotificationMessage
from services.notify.domain.ratelimit import TokenBucket

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_bucket_allows_a_burst_then_refills() -> None:
    bucket = TokenBucket.per_period(3, timedelta(minutes=1), T0)
    for _ in range(3):
        allowed, bucket = bucket.take(T0)
        assert allowed
    allowed, bucket = bucket.take(T0)
    assert not allowed
    assert bucket.available_at(T0) == T0 + timedelta(seconds=20)
    assert not bucket.take(T0 + timedelta(seconds=19))[0]
    allowed, bucket = bucket.take(T0 + timedelta(seconds=20))
    assert allowed


def test_bucket_never_exceeds_capacity_and_ignores_clock_going_back() -> None:
    bucket = TokenBucket.full(2, 1.0, T0)
    assert bucket.refilled(T0 + timedelta(hours=1)).tokens == 2
    _, spent = bucket.take(T0)
    assert spent.refilled(T0 - timedelta(minutes=5)).tokens == pytest.approx(1)


def test_bucket_refuses_more_than_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket.full(2, 1.0, T0).available_at(T0, n=3)


def test_digest_summarises_a_burst(make_message: Callable[..., NotificationMessage]) -> None:
    burst = [
        make_message(
            event_id=f"e{i}",
            severity=5 if i == 3 else 2,
            priority=None if i % 2 else 3,
            title=f"Alert {i}",
            occurred_at=T0 + timedelta(minutes=i),
        )
        for i in range(5)
    ]
    digest = build_digest(list(reversed(burst)), max_lines=3)
    assert digest.event_type == DIGEST_EVENT_TYPE
    assert digest.severity == 5
    assert digest.priority == 3
    assert digest.occurred_at == T0 + timedelta(minutes=4)
    assert digest.title == "5 notifications (1 critical, 4 low)"
    assert digest.body.splitlines() == [
        "- [low] Alert 0 (2026-03-01 12:00 UTC)",
        "- [low] Alert 1 (2026-03-01 12:01 UTC)",
        "- [low] Alert 2 (2026-03-01 12:02 UTC)",
        "... and 2 more",
    ]
    assert digest.fields["count"] == "5"
    assert build_digest(burst, max_lines=3).event_id == digest.event_id


def test_digest_refuses_mixed_tenants_and_empty(
    make_message: Callable[..., NotificationMessage],
) -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_digest([])
    with pytest.raises(ValueError, match="mix tenants"):
        build_digest([make_message(), make_message(event_id="e2", tenant_id="other")])


def test_flush_sends_a_single_message_as_is(
    make_message: Callable[..., NotificationMessage],
) -> None:
    only = make_message()
    assert flush_held([only]) is only
    assert flush_held([only, make_message(event_id="e2")]).event_type == DIGEST_EVENT_TYPE
