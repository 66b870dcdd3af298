from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify.domain.breaker import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    counts_against_channel,
)
from services.notify.domain.model import AttemptResult, ErrorClass

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(failure_threshold=3, cool_down=timedelta(seconds=30))


def _opened() -> CircuitBreaker:
    breaker = CircuitBreaker()
    for _ in range(3):
        breaker = breaker.record_failure(T0, POLICY)
    return breaker


def test_opens_after_consecutive_failures() -> None:
    breaker = CircuitBreaker()
    breaker = breaker.record_failure(T0, POLICY).record_failure(T0, POLICY)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.acquire(T0, POLICY)[0]
    breaker = breaker.record_failure(T0, POLICY)
    assert breaker.state is BreakerState.OPEN
    assert breaker.acquire(T0 + timedelta(seconds=29), POLICY) == (False, breaker)
    assert breaker.retry_at(POLICY) == T0 + timedelta(seconds=30)


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker().record_failure(T0, POLICY).record_failure(T0, POLICY)
    breaker = breaker.record_success()
    breaker = breaker.record_failure(T0, POLICY).record_failure(T0, POLICY)
    assert breaker.state is BreakerState.CLOSED


def test_half_open_allows_exactly_one_probe_then_closes_on_success() -> None:
    later = T0 + timedelta(seconds=30)
    allowed, probing = _opened().acquire(later, POLICY)
    assert allowed
    assert probing.state is BreakerState.HALF_OPEN
    assert probing.acquire(later + timedelta(seconds=1), POLICY)[0] is False
    closed = probing.record_success()
    assert closed.state is BreakerState.CLOSED
    assert closed.consecutive_failures == 0
    assert closed.acquire(later, POLICY)[0]


def test_failed_probe_reopens_for_another_cool_down() -> None:
    later = T0 + timedelta(seconds=30)
    _, probing = _opened().acquire(later, POLICY)
    reopened = probing.record_failure(later + timedelta(seconds=2), POLICY)
    assert reopened.state is BreakerState.OPEN
    assert reopened.opened_at == later + timedelta(seconds=2)
    assert not reopened.acquire(later + timedelta(seconds=31), POLICY)[0]
    assert reopened.acquire(later + timedelta(seconds=32), POLICY)[0]


def test_lost_probe_is_replaced_after_its_lease() -> None:
    later = T0 + timedelta(seconds=30)
    _, probing = _opened().acquire(later, POLICY)
    allowed, again = probing.acquire(later + timedelta(seconds=30), POLICY)
    assert allowed
    assert again.probe_started_at == later + timedelta(seconds=30)


def test_config_errors_do_not_trip_the_breaker() -> None:
    assert not counts_against_channel(
        AttemptResult.failure(ErrorClass.INVALID_CONFIG, "bad template", permanent=True)
    )
    assert counts_against_channel(AttemptResult.failure(ErrorClass.TIMEOUT, "slow"))
    assert not counts_against_channel(AttemptResult.success(status_code=200))
