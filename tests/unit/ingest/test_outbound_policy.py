"""Backoff, HTTP classification and state decisions of outbound resets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.domain.reset_policy import (
    ResetResult,
    ResetState,
    RetryPolicy,
    Verdict,
    classify_status,
    decide,
    describe,
    initial_state,
    parse_retry_after,
)

NOW = datetime(2025, 3, 19, 15, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=2.0, cap_seconds=600.0, max_attempts=8)


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (200, Verdict.SUCCEEDED),
        (204, Verdict.SUCCEEDED),
        (301, Verdict.PERMANENT),
        (400, Verdict.PERMANENT),
        (401, Verdict.PERMANENT),
        (403, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
        (408, Verdict.RETRY),
        (409, Verdict.PERMANENT),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
def test_classification(code: int, verdict: Verdict) -> None:
    assert classify_status(code) is verdict


def test_backoff_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    ceilings = [POLICY.backoff(n, lambda: 1.0) for n in range(1, 12)]
    assert ceilings[:5] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert ceilings[-1] == 600.0
    assert all(a <= b for a, b in itertools.pairwise(ceilings))


def test_backoff_is_full_jitter() -> None:
    assert POLICY.backoff(3, lambda: 0.0) == 0.0
    assert POLICY.backoff(3, lambda: 0.25) == 2.0


def test_backoff_survives_huge_attempt_numbers() -> None:
    assert POLICY.backoff(10_000, lambda: 1.0) == 600.0


def test_retry_after_is_a_floor_but_bounded() -> None:
    assert POLICY.delay(1, 30.0, lambda: 0.5) == 30.0
    assert POLICY.delay(5, 1.0, lambda: 1.0) == 32.0
    assert POLICY.delay(1, 10**9, lambda: 0.0) == POLICY.max_retry_after_seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 19 Mar 2025 15:00:30 GMT", 30.0),
        ("Wed, 19 Mar 2025 14:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


def test_success_and_permanent_failure_are_final() -> None:
    ok = decide(ResetResult(Verdict.SUCCEEDED, 204, "HTTP 204"), attempts=1, policy=POLICY, now=NOW)
    assert ok.state is ResetState.SUCCEEDED and ok.next_attempt_at is None
    gone = decide(
        ResetResult(Verdict.PERMANENT, 404, "HTTP 404"), attempts=1, policy=POLICY, now=NOW
    )
    assert gone.state is ResetState.FAILED and gone.outcome == "HTTP 404"


def test_retryable_failure_is_rescheduled_within_the_backoff() -> None:
    result = ResetResult(Verdict.RETRY, 500, "HTTP 500")
    decision = decide(result, attempts=3, policy=POLICY, now=NOW, rand=lambda: 0.5)
    assert decision.state is ResetState.PENDING
    assert decision.next_attempt_at == NOW + timedelta(seconds=4.0)


def test_retry_after_pushes_the_next_attempt_out() -> None:
    result = ResetResult(Verdict.RETRY, 429, "HTTP 429", retry_after=90.0)
    decision = decide(result, attempts=1, policy=POLICY, now=NOW, rand=lambda: 0.5)
    assert decision.next_attempt_at == NOW + timedelta(seconds=90.0)


def test_gives_up_after_max_attempts() -> None:
    result = ResetResult(Verdict.RETRY, 503, "HTTP 503")
    assert decide(result, attempts=7, policy=POLICY, now=NOW).state is ResetState.PENDING
    final = decide(result, attempts=8, policy=POLICY, now=NOW)
    assert final.state is ResetState.FAILED
    assert final.outcome == "HTTP 503 (gave up after 8 attempts)"


def test_describe_keeps_one_short_line() -> None:
    assert describe(204) == "HTTP 204"
    assert (
        describe(404, '{"error":\n "alert not found"}') == 'HTTP 404 {"error": "alert not found"}'
    )
    assert len(describe(500, "x" * 5000)) == len("HTTP 500 ") + 200


def test_initial_state() -> None:
    assert initial_state(latest_is_reset=True, blocker="nope") == (
        ResetState.SKIPPED,
        "already reset at the source",
    )
    assert initial_state(latest_is_reset=False, blocker="no API") == (
        ResetState.UNSUPPORTED,
        "no API",
    )
    assert initial_state(latest_is_reset=False, blocker=None)[0] is ResetState.PENDING


def test_final_states() -> None:
    assert {s for s in ResetState if s.final} == {
        ResetState.SUCCEEDED,
        ResetState.FAILED,
        ResetState.UNSUPPORTED,
        ResetState.SKIPPED,
    }
