"""Stored channel settings (quiet hours, rate limit, digest) <-> domain values."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Any

from google.protobuf import json_format

from services.notify.domain.channel import ChannelSettings, ChannelSpec
from services.notify.domain.quiet_hours import QuietHours
from services.notify.domain.records import ChannelRow
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import FieldViolation


def settings_violations(spec: ChannelSpec) -> list[FieldViolation]:
    """What is wrong with a spec's quiet hours, rate limit and digest."""
    out: list[FieldViolation] = []
    if spec.quiet_hours is not None:
        try:
            quiet_windows(spec.quiet_hours)
        except ValueError as exc:
            out.append(FieldViolation("channel.quiet_hours", str(exc)))
    if spec.rate_limit is not None:
        limit = json_format.ParseDict(spec.rate_limit, pb.ChannelRateLimit())
        if limit.max_messages < 0:
            out.append(FieldViolation("channel.rate_limit.max_messages", "must not be negative"))
        if limit.max_messages > 0 and limit.period.ToTimedelta() <= timedelta(0):
            out.append(FieldViolation("channel.rate_limit.period", "must be positive"))
    if spec.digest is not None:
        digest = json_format.ParseDict(spec.digest, pb.DigestSettings())
        if digest.min_messages < 0 or digest.min_messages == 1:
            out.append(FieldViolation("channel.digest.min_messages", "must be 0 or at least 2"))
        if digest.min_messages > 1 and digest.window.ToTimedelta() <= timedelta(0):
            out.append(FieldViolation("channel.digest.window", "must be positive"))
    return out


def _wall(value: Any, field: str) -> time | None:
    h, m, s = value.hours, value.minutes, value.seconds
    if h == 24 and m == 0 and s == 0:
        return None
    if not (0 <= h <= 23 and 0 <= m <= 59 and 0 <= s <= 59):
        raise ValueError(f"{field} is not a valid time of day")
    return time(h, m, s)


def quiet_windows(data: Mapping[str, Any], default_zone: str = "UTC") -> list[QuietHours]:
    """The domain windows of stored quiet hours; ValueError if they cannot work."""
    quiet = json_format.ParseDict(dict(data), pb.QuietHours())
    zone = quiet.time_zone or default_zone
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {zone!r}") from exc
    windows: list[QuietHours] = []
    for i, r in enumerate(quiet.ranges):
        start = _wall(r.start, f"ranges[{i}].start") or time(0)
        end = _wall(r.end, f"ranges[{i}].end")
        days = frozenset(int(d) - 1 for d in r.days) or None
        if days is not None and not days <= frozenset(range(7)):
            raise ValueError(f"ranges[{i}].days must be set days of the week")
        if end is None:
            end = time(0) if start != time(0) else time(23, 59, 59, 999999)
        if start == end:
            raise ValueError(f"ranges[{i}] is empty")
        windows.append(QuietHours(start=start, end=end, zone=zone, weekdays=days))
    return windows


def settings_of(
    quiet_hours: Mapping[str, Any] | None,
    rate_limit: Mapping[str, Any] | None,
    digest: Mapping[str, Any] | None,
    *,
    default_zone: str = "UTC",
) -> ChannelSettings:
    """A channel's stored settings as domain values (invalid ones count as unset); quiet
    hours that name no zone are in ``default_zone`` (the tenant's)."""
    windows: list[QuietHours] = []
    hold_critical = False
    if quiet_hours:
        try:
            windows = quiet_windows(quiet_hours, default_zone)
        except ValueError:
            windows = []
        hold_critical = bool(quiet_hours.get("hold_critical"))
    limit = json_format.ParseDict(dict(rate_limit or {}), pb.ChannelRateLimit())
    dig = json_format.ParseDict(dict(digest or {}), pb.DigestSettings())
    return ChannelSettings(
        quiet_windows=tuple(windows),
        hold_critical=hold_critical,
        rate_max=max(0, limit.max_messages),
        rate_period=limit.period.ToTimedelta(),
        digest_window=dig.window.ToTimedelta(),
        digest_min=max(0, dig.min_messages),
    )


def channel_settings(row: ChannelRow, default_zone: str) -> ChannelSettings:
    """:func:`settings_of` a stored channel."""
    return settings_of(row.quiet_hours, row.rate_limit, row.digest, default_zone=default_zone)
