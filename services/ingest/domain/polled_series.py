"""A polled integration's webhooks against the triggers polling created, pure.

Polling stores a missed trigger under the series the provider's API gives it; the
provider's own webhooks for that alert may name the series otherwise (a NinjaOne
activity's ``seriesUid``, which the alerts API does not expose; a Tactical RMM template
without the alert id). Both carry the reconcile key (domain/identity.py), so while
polling's trigger for a key is open, the webhooks of that key join its series: a trigger
with nothing stored for the key since is a duplicate of the polled one, and anything
else (the reset above all) is stored under the polled series, so it resets that series
at once instead of a grace period later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace

from services.ingest.domain.alerts import AlertKind, NormalizedAlert


@dataclass(frozen=True, slots=True)
class PolledMatch:
    """What becomes of a webhook's alerts, by their index in the webhook."""

    #: A late trigger of an alert polling created: not stored, answered as this alert id.
    duplicate_of: Mapping[int, str]
    #: Stored under the series of this polled alert id.
    joins: Mapping[int, str]


def match_polled(
    alerts: Sequence[tuple[AlertKind, str | None]],
    *,
    polled_open: Mapping[str, str],
    moved: Set[str],
) -> PolledMatch:
    """Match ``(kind, reconcile key)`` of each webhook alert with ``polled_open`` (key ->
    the open trigger polling created); ``moved`` holds the keys with a trigger or reset
    stored since that trigger."""
    duplicate_of: dict[int, str] = {}
    joins: dict[int, str] = {}
    for index, (kind, key) in enumerate(alerts):
        polled = polled_open.get(key) if key is not None else None
        if polled is None or kind not in (AlertKind.TRIGGER, AlertKind.RESET):
            continue
        if kind is AlertKind.TRIGGER and key not in moved:
            duplicate_of[index] = polled
        else:
            joins[index] = polled
    return PolledMatch(duplicate_of=duplicate_of, joins=joins)


def with_series(alert: NormalizedAlert, series_key: str) -> NormalizedAlert:
    """``alert`` under another series (the polled trigger's it belongs to)."""
    if alert.series_key == series_key:
        return alert
    return replace(alert, series_key=series_key)
