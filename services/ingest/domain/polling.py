"""Reconciliation polling, the pure part: who polls, how often, what a cycle changes.

The worker lists the provider's active alerts, the store gives the integration's series
as Triage knows them; :func:`reconcile` decides which polled alerts are missing here (to
ingest as triggers) and which open alerts the provider no longer lists (to reset after
a grace period). docs/POLLING.md explains the design.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.ingest.domain.alerts import AlertKind, NormalizedAlert, Severity

DEFAULT_INTERVAL_SECONDS = 900.0
MIN_INTERVAL_SECONDS = 300.0
MAX_INTERVAL_SECONDS = 3600.0
MIN_GRACE_SECONDS = 300.0
BACKOFF_CAP_SECONDS = 6 * 3600.0
#: Providers whose API lists active alerts (services/ingest/clients/poll).
POLLABLE = frozenset({"ninjaone", "datto", "tacticalrmm", "level", "huntress"})
ORIGIN_LABEL = "triage.origin"
RESET_ORIGIN_LABEL = "triage.reset_origin"
INACTIVE_COMMENT = "no longer active in the RMM"


class Outcome:
    """How a cycle ended (``integration_polls.last_outcome``)."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


def duration_seconds(value: Any) -> float | None:
    """A stored protobuf Duration (JSON ``"900s"``) in seconds; None when unset or bad."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return float(value[:-1])
    except ValueError:
        return None


def poll_interval_seconds(settings: Mapping[str, Any]) -> float:
    """The integration's poll interval (default 15 minutes, clamped to 5-60)."""
    seconds = duration_seconds(settings.get("poll_interval")) or DEFAULT_INTERVAL_SECONDS
    return min(max(seconds, MIN_INTERVAL_SECONDS), MAX_INTERVAL_SECONDS)


def grace_seconds(interval: float, override: float | None = None) -> float:
    """How long an open alert must be missing from the provider's list before it is
    reset: one interval, at least 5 minutes (``override`` for tests and operators)."""
    if override is not None:
        return override
    return max(interval, MIN_GRACE_SECONDS)


def polling_wanted(
    *, provider: str, settings: Mapping[str, Any], has_secret: bool, disabled: bool
) -> bool:
    """Whether the integration is polled: a pollable provider with API credentials,
    enabled, and polling not switched off (unset means on once credentials are set)."""
    if provider not in POLLABLE or disabled or not has_secret:
        return False
    api = settings.get("api") or {}
    if not api.get("base_url"):
        return False
    enabled = settings.get("polling_enabled")
    return enabled is not False


def next_delay(
    outcome: str,
    *,
    interval: float,
    failures: int,
    retry_after: float | None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds until the next cycle after one that ended with ``outcome``.

    ``failures`` counts the failed cycles in a row, this one included. A success waits
    one interval (plus up to 5% jitter, so integrations spread out); a 429 waits the
    longer of the interval and Retry-After; other errors back off exponentially from the
    interval with full jitter, capped at 6 hours, never sooner than a Retry-After.
    """
    if outcome == Outcome.OK:
        return interval * (1.0 + 0.05 * rand())
    if outcome == Outcome.RATE_LIMITED:
        return max(interval, retry_after or 0.0)
    exponent = min(max(failures, 1), 20)
    ceiling = min(BACKOFF_CAP_SECONDS, interval * 2.0**exponent)
    wait = max(interval, ceiling * rand())
    return max(wait, retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class PollRow:
    """An integration's poll status as stored."""

    integration_id: str
    next_poll_at: datetime
    failures: int
    last_finished_at: datetime | None
    last_ok_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    last_found: int
    last_created: int
    last_resolved: int


@dataclass(frozen=True, slots=True)
class SeriesState:
    """One alert series of an integration as Triage stored it: its latest event by when
    it happened (then by arrival)."""

    alert_id: str
    series_key: str
    kind: AlertKind
    received_at: datetime
    condition: str
    severity: Severity
    summary: str
    message: str
    device_id: str | None = None
    device_name: str | None = None
    client_id: str | None = None
    client_name: str | None = None
    site_id: str | None = None
    site_name: str | None = None
    raw_severity: str | None = None
    source_ref: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether the series' latest event is a trigger."""
        return self.kind is AlertKind.TRIGGER


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What one complete cycle changes."""

    #: Reconcile keys of polled alerts to ingest as triggers.
    create: list[str]
    #: Open series to reset (no longer active at the provider for the grace period).
    reset: list[SeriesState]
    #: The new ``missing_since`` map (reconcile key -> ISO instant).
    missing_since: dict[str, str] = field(default_factory=dict)


def reconcile(
    *,
    active: Mapping[str, Any],
    stored: list[tuple[str, SeriesState]],
    missing_since: Mapping[str, str],
    now: datetime,
    listed_at: datetime,
    grace: timedelta,
) -> Reconciliation:
    """Decide a complete cycle.

    ``active``: reconcile key -> polled alert (the provider lists it active);
    ``stored``: (reconcile key, latest event) of the integration's series;
    ``listed_at``: when the listing started.

    A polled alert is created when no series with its key is open here and none was
    reset here since ``listed_at - grace`` (a reset webhook racing the listing wins). An
    open series is reset when its key has been missing from complete listings for
    ``grace`` and its latest event is older than ``grace`` (a trigger racing the listing
    is never reset).
    """
    latest: dict[str, SeriesState] = {}
    for key, state in stored:
        seen = latest.get(key)
        if seen is None or (state.received_at, state.alert_id) > (seen.received_at, seen.alert_id):
            latest[key] = state
    open_keys = {key for key, state in latest.items() if state.is_open}
    recent_reset_floor = listed_at - grace
    create = [
        key
        for key in active
        if key not in open_keys and not _reset_since(latest.get(key), recent_reset_floor)
    ]
    reset: list[SeriesState] = []
    still_missing: dict[str, str] = {}
    for key, state in latest.items():
        if not state.is_open or key in active:
            continue
        first = missing_since.get(key)
        since = datetime.fromisoformat(first) if first else now
        still_missing[key] = since.isoformat()
        if now - since >= grace and now - state.received_at >= grace:
            reset.append(state)
            del still_missing[key]
    # Every open series of a key, not only the newest, is closed by the same finding.
    reset_keys = {key for key, state in latest.items() if state in reset}
    for key, state in stored:
        if key in reset_keys and state.is_open and state not in reset:
            reset.append(state)
    return Reconciliation(create=create, reset=reset, missing_since=still_missing)


def _reset_since(state: SeriesState | None, floor: datetime) -> bool:
    return state is not None and state.kind is AlertKind.RESET and state.received_at >= floor


def inactive_reset(state: SeriesState, *, at: datetime) -> NormalizedAlert:
    """The synthesized reset of an open series the provider no longer lists: tickets
    comments that it is "no longer active in the RMM" (``triage.reset_origin=inactive``)."""
    return NormalizedAlert(
        kind=AlertKind.RESET,
        series_key=state.series_key,
        condition=state.condition,
        severity=state.severity,
        title=f"Cleared, {INACTIVE_COMMENT}: {state.summary}"[:1024],
        message=f"The alert is {INACTIVE_COMMENT}: the reconciliation poll no longer lists it.",
        provider_event_id=None,
        device_id=state.device_id,
        device_name=state.device_name,
        client_id=state.client_id,
        client_name=state.client_name,
        site_id=state.site_id,
        site_name=state.site_name,
        raw_severity=state.raw_severity,
        source_ref=state.source_ref,
        labels={ORIGIN_LABEL: "poll", RESET_ORIGIN_LABEL: "inactive"},
        occurred_at=at,
    )


def inactive_delivery_key(state: SeriesState) -> str:
    """One synthesized reset per trigger, whichever replica or cycle writes it."""
    return f"inactive:{state.alert_id}"


def polled_trigger(alert: NormalizedAlert) -> NormalizedAlert:
    """A polled alert as stored: labelled as found by polling."""
    labels = dict(alert.labels)
    labels[ORIGIN_LABEL] = "poll"
    return NormalizedAlert(
        kind=alert.kind,
        series_key=alert.series_key,
        condition=alert.condition,
        severity=alert.severity,
        title=alert.title,
        message=alert.message,
        provider_event_id=alert.provider_event_id,
        device_id=alert.device_id,
        device_name=alert.device_name,
        client_id=alert.client_id,
        client_name=alert.client_name,
        site_id=alert.site_id,
        site_name=alert.site_name,
        raw_severity=alert.raw_severity,
        labels=labels,
        occurred_at=alert.occurred_at,
        source_ref=alert.source_ref,
        raw_fields=alert.raw_fields,
    )
