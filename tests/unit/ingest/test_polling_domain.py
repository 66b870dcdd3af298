"""The poll worker's pure decisions: who is polled, back-off, what a cycle changes,
Svix signatures and silent sources (issue 17)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.domain import svix
from services.ingest.domain.alerts import AlertKind, Severity
from services.ingest.domain.polling import (
    Outcome,
    SeriesState,
    inactive_reset,
    next_delay,
    poll_interval_seconds,
    polling_wanted,
    reconcile,
)
from services.ingest.domain.silence import is_silent, silent_after

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)
API = {"api": {"base_url": "https://rmm.example"}}


def state(key: str, kind: AlertKind, age: timedelta, alert_id: str = "a") -> SeriesState:
    """A stored series whose latest event is ``kind``, ``age`` old."""
    return SeriesState(
        alert_id=alert_id,
        series_key=key,
        kind=kind,
        received_at=NOW - age,
        condition="cond",
        severity=Severity.HIGH,
        summary="Disk full",
        message="",
    )


@pytest.mark.parametrize(
    ("provider", "settings", "has_secret", "disabled", "wanted"),
    [
        ("ninjaone", API, True, False, True),
        ("ninjaone", {**API, "polling_enabled": True}, True, False, True),
        ("ninjaone", {**API, "polling_enabled": False}, True, False, False),
        ("ninjaone", API, False, False, False),
        ("ninjaone", {}, True, False, False),
        ("ninjaone", API, True, True, False),
        ("generic", API, True, False, False),
        ("huntress", API, True, False, True),
    ],
)
def test_polling_is_on_with_credentials_unless_switched_off(
    provider: str, settings: dict[str, object], has_secret: bool, disabled: bool, wanted: bool
) -> None:
    assert (
        polling_wanted(
            provider=provider, settings=settings, has_secret=has_secret, disabled=disabled
        )
        is wanted
    )


def test_interval_defaults_to_15_minutes_and_stays_within_5_to_60() -> None:
    assert poll_interval_seconds({}) == 900
    assert poll_interval_seconds({"poll_interval": "600s"}) == 600
    assert poll_interval_seconds({"poll_interval": "10s"}) == 300
    assert poll_interval_seconds({"poll_interval": "86400s"}) == 3600


def test_back_off() -> None:
    assert 900 <= next_delay(Outcome.OK, interval=900, failures=0, retry_after=None) <= 945
    assert next_delay(Outcome.RATE_LIMITED, interval=900, failures=0, retry_after=1800) == 1800
    assert next_delay(Outcome.RATE_LIMITED, interval=900, failures=0, retry_after=5) == 900
    worst = next_delay(
        Outcome.TRANSIENT, interval=900, failures=30, retry_after=None, rand=lambda: 1
    )
    assert worst == 6 * 3600
    least = next_delay(
        Outcome.PERMANENT, interval=900, failures=1, retry_after=None, rand=lambda: 0
    )
    assert least == 900
    assert (
        next_delay(Outcome.TRANSIENT, interval=300, failures=1, retry_after=4000, rand=lambda: 0)
        == 4000
    )


def test_missing_here_is_created_and_open_here_is_left_alone() -> None:
    decision = reconcile(
        active={"k1": object(), "k2": object()},
        stored=[("k1", state("s1", AlertKind.TRIGGER, timedelta(hours=1)))],
        missing_since={},
        now=NOW,
        listed_at=NOW,
        grace=GRACE,
    )
    assert decision.create == ["k2"]
    assert decision.reset == []


def test_a_reset_received_while_listing_wins_over_the_listing() -> None:
    decision = reconcile(
        active={"k1": object()},
        stored=[("k1", state("s1", AlertKind.RESET, timedelta(seconds=5)))],
        missing_since={},
        now=NOW,
        listed_at=NOW - timedelta(seconds=10),
        grace=GRACE,
    )
    assert decision.create == []
    old = reconcile(
        active={"k1": object()},
        stored=[("k1", state("s1", AlertKind.RESET, timedelta(days=2)))],
        missing_since={},
        now=NOW,
        listed_at=NOW,
        grace=GRACE,
    )
    assert old.create == ["k1"]


def test_no_longer_listed_is_reset_only_after_the_grace_period() -> None:
    stored = [("k1", state("s1", AlertKind.TRIGGER, timedelta(hours=1)))]
    first = reconcile(
        active={}, stored=stored, missing_since={}, now=NOW, listed_at=NOW, grace=GRACE
    )
    assert first.reset == [] and list(first.missing_since) == ["k1"]
    later = NOW + GRACE
    second = reconcile(
        active={},
        stored=stored,
        missing_since=first.missing_since,
        now=later,
        listed_at=later,
        grace=GRACE,
    )
    assert [s.series_key for s in second.reset] == ["s1"] and second.missing_since == {}
    # Listed again before the grace period ended: forgotten.
    back = reconcile(
        active={"k1": object()},
        stored=stored,
        missing_since=first.missing_since,
        now=later,
        listed_at=later,
        grace=GRACE,
    )
    assert back.reset == [] and back.missing_since == {}


def test_a_trigger_newer_than_the_grace_period_is_never_reset() -> None:
    fresh = [("k1", state("s1", AlertKind.TRIGGER, timedelta(minutes=1)))]
    decision = reconcile(
        active={},
        stored=fresh,
        missing_since={"k1": (NOW - timedelta(hours=2)).isoformat()},
        now=NOW,
        listed_at=NOW,
        grace=GRACE,
    )
    assert decision.reset == []


def test_inactive_reset_says_so() -> None:
    reset = inactive_reset(state("s1", AlertKind.TRIGGER, timedelta(hours=1)), at=NOW)
    assert reset.kind is AlertKind.RESET and reset.series_key == "s1"
    assert reset.labels["triage.reset_origin"] == "inactive"
    assert "no longer active in the RMM" in reset.title


SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_svix_signature_of_the_documented_test_vector() -> None:
    # The svix libraries' own test vector (svix-webhooks, webhook tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    stamp = 1614265330
    headers = {
        "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "svix-timestamp": str(stamp),
        "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    at = datetime.fromtimestamp(stamp, UTC)
    assert svix.verify(secret, headers, body, at)
    assert not svix.verify(secret, headers, body + b" ", at)
    assert not svix.verify(secret, headers, body, at + timedelta(minutes=6))


def test_svix_accepts_any_of_several_signatures_and_refuses_bad_input() -> None:
    body = b"{}"
    stamp = int(NOW.timestamp())
    good = svix.sign(SECRET, "msg_1", stamp, body)
    headers = {
        "svix-id": "msg_1",
        "svix-timestamp": str(stamp),
        "svix-signature": f"v1,bm90LWl0 {good}",
    }
    assert svix.verify(SECRET, headers, body, NOW)
    assert not svix.verify(SECRET, {**headers, "svix-timestamp": "soon"}, body, NOW)
    assert not svix.verify(SECRET, {**headers, "svix-id": "msg_2"}, body, NOW)
    assert not svix.verify("whsec_!!!", headers, body, NOW)
    assert not svix.valid_secret("not-a-secret")
    assert svix.valid_secret(SECRET)


def test_silence_defaults_to_a_day_once_the_source_has_sent() -> None:
    assert silent_after({}) == timedelta(hours=24)
    assert silent_after({"silent_after": "3600s"}) == timedelta(hours=1)
    assert silent_after({"silence_alerts_disabled": True}) is None
    day = timedelta(hours=24)
    assert is_silent(settings={}, last_contact=NOW - day, now=NOW)
    assert not is_silent(settings={}, last_contact=NOW - day + timedelta(seconds=1), now=NOW)
    assert not is_silent(settings={}, last_contact=None, now=NOW)
    assert not is_silent(
        settings={"silence_alerts_disabled": True}, last_contact=NOW - 9 * day, now=NOW
    )
