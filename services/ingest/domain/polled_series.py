"""A polled integration's webhooks against the triggers polling created, pure.

Polling stores a missed trigger under the series the provider's API gives it; the
provider's own webhooks for that alert may name the series otherwise (a NinjaOne
activity's ``seriesUid``, which the alerts API does not expose; a Tactical RMM template
without the alert id). Both carry the reconcile key (domain/identity.py), so while
polling's trigger for a key is open, the webhooks of that key join its series: a trigger
with nothing stored for the key since is a duplicate of the polled one, and anything
else (the reset above all) is stored under the polled series, so it resets that series
at once instead of a grace period later.

The link outlives the key's stay in ``polled_open`` by one grace period after the reset
that closed the polled series: a trigger webhook of that firing delayed past its reset
and the next cycle (it occurred before the reset) still joins the polled series, where
tickets takes it as a late trigger, instead of opening a series (and a ticket) of its
own. A trigger that occurred after that reset is a new firing and keeps its own series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.ingest.domain.alerts import AlertKind, NormalizedAlert
from services.ingest.domain.identity import reconcile_key
from services.ingest.domain.polling import grace_seconds, poll_interval_seconds


@dataclass(frozen=True, slots=True)
class PolledMatch:
    """What becomes of a webhook's alerts, by their index in the webhook."""

    #: A late trigger of an alert polling created: not stored, answered as this alert id.
    duplicate_of: Mapping[int, str]
    #: Stored under the series of this polled alert id.
    joins: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class ClosedPolled:
    """A trigger polling created whose series a reset closed lately."""

    alert_id: str
    series_key: str
    device_id: str | None
    condition: str
    #: When the latest reset of the series occurred (received, when it carries no time).
    reset_at: datetime


def match_polled(
    alerts: Sequence[tuple[AlertKind, str | None]],
    *,
    polled_open: Mapping[str, str],
    moved: Set[str],
    closed: Mapping[str, ClosedPolled] | None = None,
    occurred: Sequence[datetime | None] = (),
) -> PolledMatch:
    """Match ``(kind, reconcile key)`` of each webhook alert with ``polled_open`` (key ->
    the open trigger polling created); ``moved`` holds the keys with a trigger or reset
    stored since that trigger. A trigger whose key is no longer there joins the series of
    ``closed[key]`` when it occurred (``occurred``, by index) before that series' reset."""
    duplicate_of: dict[int, str] = {}
    joins: dict[int, str] = {}
    for index, (kind, key) in enumerate(alerts):
        polled = polled_open.get(key) if key is not None else None
        if polled is None:
            late = _late_trigger_of(kind, key, closed, occurred, index)
            if late is not None:
                joins[index] = late
            continue
        if kind not in (AlertKind.TRIGGER, AlertKind.RESET):
            continue
        if kind is AlertKind.TRIGGER and key not in moved:
            duplicate_of[index] = polled
        else:
            joins[index] = polled
    return PolledMatch(duplicate_of=duplicate_of, joins=joins)


def _late_trigger_of(
    kind: AlertKind,
    key: str | None,
    closed: Mapping[str, ClosedPolled] | None,
    occurred: Sequence[datetime | None],
    index: int,
) -> str | None:
    """The closed polled trigger a late trigger belongs to, if it is one."""
    if kind is not AlertKind.TRIGGER or key is None or not closed or key not in closed:
        return None
    at = occurred[index] if index < len(occurred) else None
    # Without its own time a trigger cannot be told from a new firing: it keeps its series.
    if at is None or at > closed[key].reset_at:
        return None
    return closed[key].alert_id


def unlinked_triggers(
    alerts: Sequence[tuple[AlertKind, str | None]], polled_open: Mapping[str, str]
) -> bool:
    """Whether a webhook trigger's key is not in ``polled_open`` (it may be a late trigger
    of a polled series closed lately)."""
    return any(
        kind is AlertKind.TRIGGER and key is not None and key not in polled_open
        for kind, key in alerts
    )


def link_since(now: datetime, settings: Mapping[str, Any]) -> datetime:
    """The oldest reset of a polled series that still links a late trigger to it: one
    grace period of the integration's poll interval before ``now``."""
    return now - timedelta(seconds=grace_seconds(poll_interval_seconds(settings)))


def closed_by_key(provider: str, closed: Iterable[ClosedPolled]) -> dict[str, ClosedPolled]:
    """``closed`` by reconcile key; of two for one key, the one reset last."""
    found: dict[str, ClosedPolled] = {}
    for item in closed:
        key = reconcile_key(provider, item)
        if key not in found or item.reset_at > found[key].reset_at:
            found[key] = item
    return found


def with_series(alert: NormalizedAlert, series_key: str) -> NormalizedAlert:
    """``alert`` under another series (the polled trigger's it belongs to)."""
    if alert.series_key == series_key:
        return alert
    return replace(alert, series_key=series_key)
