"""What the rules schema holds, as the store returns it: one frozen record per row kind.

Rule conditions and actions and a window's scope stay in their stored JSON form (the API's
JSON); the service reads them as domain values through its decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.rules.domain.windows import MaintenanceWindow, WindowScope


@dataclass(frozen=True, slots=True)
class SettingsRecord:
    """A tenant's time zone, default actions (stored JSON) and rule-set version."""

    tenant_id: str
    time_zone: str
    default_actions: Mapping[str, Any] | None
    rule_set_version: int


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """One stored rule."""

    id: str
    tenant_id: str
    name: str
    description: str
    position: int
    enabled: bool
    scope_integration_ids: list[str]
    conditions: Mapping[str, Any]
    actions: Mapping[str, Any]
    version: int
    rule_set_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CorrelationRuleRecord:
    """One stored correlation rule (conditions as stored JSON)."""

    id: str
    tenant_id: str
    name: str
    description: str
    position: int
    enabled: bool
    conditions: Mapping[str, Any]
    group_by: list[str]
    window_seconds: int
    primary_conditions: Mapping[str, Any] | None
    version: int
    rule_set_version: int
    created_at: datetime
    updated_at: datetime


class OrderedRecord(Protocol):
    """What a stored rule of either kind (routing, correlation) has for its CRUD: an id, a
    unique name, a position in evaluation order and a revision."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def position(self) -> int: ...

    @property
    def version(self) -> int: ...


@dataclass(frozen=True, slots=True)
class WindowRecord:
    """One stored maintenance window."""

    id: str
    tenant_id: str
    name: str
    description: str
    starts_at: datetime | None
    ends_at: datetime | None
    rrule: str | None
    duration_seconds: float | None
    time_zone: str
    scope: Mapping[str, Any]
    end_override_at: datetime | None
    ended_early_at: datetime | None
    extended_until: datetime | None
    cancelled_from: datetime | None
    creator: str
    version: int
    rule_set_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """A series of one tenant."""

    tenant_id: str
    series_key: str


@dataclass(frozen=True, slots=True)
class HeldSeries:
    """A series a window holds: its key and the trigger (a serialized alert) it holds."""

    series_key: str
    trigger_alert: bytes


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """The decision logged for one alert when it was received, with the alert itself."""

    tenant_id: str
    alert_id: str
    series_key: str
    occurred_at: datetime
    alert: bytes
    kind: str
    window_id: str | None
    rule_ids: list[str]
    rule_set_version: int
    create_ticket: bool
    decided_at: datetime


def etag(version: int) -> str:
    """The opaque etag of a resource revision."""
    return f'W/"{version}"'


def zone_or_utc(name: str) -> str:
    """``name`` when it is a known IANA zone, else ``UTC``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return "UTC"
    return name


def window_of(values: Mapping[str, Any], scope: WindowScope, tenant_zone: str) -> MaintenanceWindow:
    """A domain window of a window's column ``values`` and its ``scope`` (an empty zone takes
    the tenant's)."""
    duration = values.get("duration_seconds")
    return MaintenanceWindow(
        id=str(values["id"]),
        name=str(values["name"]),
        starts_at=values.get("starts_at"),
        ends_at=values.get("ends_at"),
        rrule=values.get("rrule"),
        duration=None if duration is None else timedelta(seconds=duration),
        time_zone=values.get("time_zone") or tenant_zone,
        scope=scope,
        ended_early_at=values.get("ended_early_at"),
        extended_until=values.get("extended_until"),
        cancelled_from=values.get("cancelled_from"),
    )
