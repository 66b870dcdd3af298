"""Maintenance windows: one-off or recurring (RFC 5545 RRULE in an IANA zone), with a scope."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.rules.domain.checks import Check, Facts
from services.rules.domain.matching import scope_checks
from services.rules.domain.model import LabelMatcher, Violation, WindowValidationError
from services.rules.domain.recurrence import HORIZON_YEARS, BoundedRule, RecurrenceError

Occurrence = tuple[datetime, datetime]

# Wall-clock and UTC orders differ by at most one DST shift; 3h covers every zone in use.
_SLACK: Final = timedelta(hours=3)
# How far back and ahead a recurring window's starts are looked for (bounded work).
_HORIZON: Final = timedelta(days=366 * HORIZON_YEARS)
_TICK: Final = timedelta(microseconds=1)
MAX_RECURRING_DURATION: Final = timedelta(days=366)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowScope:
    """Which alerts a window silences; every present part must match, empty = whole tenant."""

    integration_ids: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    device_globs: tuple[str, ...] = ()
    label_matchers: tuple[LabelMatcher, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MaintenanceWindow:
    """A one-off window (`starts_at`..`ends_at`) or a recurring one (`rrule` + `duration`).

    A recurring window's RRULE may carry a `DTSTART` line in wall time of `time_zone`
    (plain, `Z`, or `TZID=` the same zone); without one, `starts_at` is the first start.
    Durations are exact elapsed time, as RFC 5545 defines for hours and minutes.
    `ended_early_at` cuts the occurrence in progress at that instant (a one-off window
    ended before it starts never opens). `extended_until` pushes the end of the latest
    occurrence that started before it. Occurrences starting at or after `cancelled_from`
    do not happen (a recurrence ended for good).
    """

    id: str
    name: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    rrule: str | None = None
    duration: timedelta | None = None
    time_zone: str = "UTC"
    scope: WindowScope = field(default_factory=WindowScope)
    ended_early_at: datetime | None = None
    extended_until: datetime | None = None
    cancelled_from: datetime | None = None

    def is_active(self, at: datetime) -> bool:
        """Whether the window is in force at `at`."""
        return compile_window(self).occurrence_at(at) is not None

    def active_occurrence(self, at: datetime) -> Occurrence | None:
        """The (start, end) in UTC of the occurrence in force at `at`, if any."""
        return compile_window(self).occurrence_at(at)

    def next_end_after(self, at: datetime) -> datetime | None:
        """When the occurrence in force at `at` (or else the next one) ends."""
        return compile_window(self).next_end_after(at)


def _aware(value: datetime | None, path: str, violations: list[Violation]) -> None:
    if value is not None and value.utcoffset() is None:
        violations.append(Violation(path, "must carry a time zone"))


def _zone(name: str, path: str, violations: list[Violation]) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        violations.append(Violation(path, f"unknown time zone {name!r}"))
        return None


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    return at.astimezone(zone).replace(tzinfo=None)


def _parse_dtstart(line: str, zone: ZoneInfo) -> datetime:
    head, _, value = line.partition(":")
    params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
    tzid = params.get("TZID")
    if tzid is not None and tzid != zone.key:
        raise ValueError(f"DTSTART TZID {tzid!r} differs from the window's zone {zone.key!r}")
    value = value.strip()
    if value.endswith(("Z", "z")):
        utc = datetime.strptime(value[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return _local(utc, zone)
    fmt = "%Y%m%dT%H%M%S" if "T" in value.upper() else "%Y%m%d"
    return datetime.strptime(value.upper(), fmt)


def _parse_rrule(
    window: MaintenanceWindow, zone: ZoneInfo, violations: list[Violation]
) -> BoundedRule | None:
    path = "rrule"
    text = window.rrule or ""
    dtstart: datetime | None = None
    rule_line: str | None = None
    for raw in text.strip().splitlines():
        line = raw.strip()
        upper = line.upper()
        if not line:
            continue
        if upper.startswith("DTSTART"):
            try:
                dtstart = _parse_dtstart(line, zone)
            except ValueError as exc:
                violations.append(Violation(path, f"bad DTSTART: {exc}"))
                return None
        elif upper.startswith("RRULE:"):
            rule_line = line[6:]
        elif upper.startswith("FREQ=") or (";" in line and ":" not in line):
            rule_line = line
        else:
            violations.append(Violation(path, f"only DTSTART and RRULE are supported: {line!r}"))
            return None
    if rule_line is None:
        violations.append(Violation(path, "no RRULE found"))
        return None
    if dtstart is None:
        if window.starts_at is None or window.starts_at.utcoffset() is None:
            violations.append(
                Violation(path, "needs a DTSTART line or starts_at for the first occurrence")
            )
            return None
        dtstart = _local(window.starts_at, zone)
    try:
        return BoundedRule(rule_line, dtstart, zone)
    except RecurrenceError as exc:
        violations.append(Violation(path, f"invalid RRULE: {exc}"))
        return None


def validate_window(window: MaintenanceWindow) -> list[Violation]:
    """Every problem with a window, as field violations (empty when valid)."""
    violations: list[Violation] = []
    _build(window, violations)
    return violations


class _OneOff:
    __slots__ = ("end", "start")

    def __init__(self, window: MaintenanceWindow) -> None:
        assert window.starts_at is not None
        assert window.ends_at is not None
        self.start = window.starts_at.astimezone(UTC)
        end = window.ends_at.astimezone(UTC)
        if window.extended_until is not None:
            end = max(end, window.extended_until.astimezone(UTC))
        if window.ended_early_at is not None:
            end = max(self.start, min(end, window.ended_early_at.astimezone(UTC)))
        self.end = end

    def occurrence_at(self, at: datetime) -> Occurrence | None:
        return (self.start, self.end) if self.start <= at < self.end else None

    def next_start_after(self, at: datetime) -> datetime | None:
        return self.start if at < self.start < self.end else None

    def end_of(self, start: datetime) -> datetime:
        return self.end


class _Recurrence:
    __slots__ = ("_ext_start", "_ext_until", "cancel", "duration", "early", "rule", "zone")

    def __init__(self, window: MaintenanceWindow, rule: BoundedRule, zone: ZoneInfo) -> None:
        assert window.duration is not None
        self.rule = rule
        self.zone = zone
        self.duration = window.duration
        self.cancel = (
            None if window.cancelled_from is None else window.cancelled_from.astimezone(UTC)
        )
        self.early = (
            None if window.ended_early_at is None else window.ended_early_at.astimezone(UTC)
        )
        self._ext_until = (
            None if window.extended_until is None else window.extended_until.astimezone(UTC)
        )
        self._ext_start = (
            None if self._ext_until is None else self.latest_start_before(self._ext_until)
        )

    def _utc(self, naive: datetime) -> datetime:
        # fold=0: an ambiguous wall time is its first instant; one in a gap moves forward.
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def starts_between(self, lo: datetime, hi: datetime) -> list[datetime]:
        """UTC starts in [lo, hi], in order (the expansion is bounded by the span)."""
        naive = self.rule.between(_local(lo, self.zone) - _SLACK, _local(hi, self.zone) + _SLACK)
        cancel = self.cancel
        return sorted(
            {s for n in naive if lo <= (s := self._utc(n)) <= hi and (cancel is None or s < cancel)}
        )

    def _latest(self, at: datetime, lower: datetime) -> datetime | None:
        """The latest start in [lower, at], searched backwards in doubling steps."""
        step = self.rule.period()
        hi = at
        while hi >= lower:
            lo = max(lower, hi - step)
            found = self.starts_between(lo, hi)
            if found:
                return found[-1]
            hi = lo - _TICK
            step *= 2
        return None

    def _earliest(self, lo: datetime, limit: datetime) -> datetime | None:
        """The earliest start in [lo, limit], searched forwards in doubling steps."""
        step = self.rule.period()
        while lo <= limit:
            hi = min(limit, lo + step)
            found = self.starts_between(lo, hi)
            if found:
                return found[0]
            lo = hi + _TICK
            step *= 2
        return None

    def latest_start_before(self, at: datetime) -> datetime | None:
        """The latest start before `at` (looked for back to the horizon)."""
        if self.cancel is not None:
            at = min(at, self.cancel)
        return self._latest(at - _TICK, at - _HORIZON)

    def end_of(self, start: datetime) -> datetime:
        end = start + self.duration
        if start == self._ext_start and self._ext_until is not None and self._ext_until > end:
            end = self._ext_until
        if self.early is not None and start <= self.early < end:
            end = self.early
        return end

    def occurrence_at(self, at: datetime) -> Occurrence | None:
        # Only the latest start can cover `at`: an earlier one would need a later end, but
        # every start in the span ends at start + duration or at the same early cut.
        start = self._latest(at, at - self.duration)
        if start is not None:
            end = self.end_of(start)
            if at < end:
                return (start, end)
        if self._ext_start is not None and self._ext_start <= at:
            end = self.end_of(self._ext_start)
            if at < end:
                return (self._ext_start, end)
        return None

    def next_start_after(self, at: datetime) -> datetime | None:
        limit = at + _HORIZON
        if self.cancel is not None:
            limit = min(limit, self.cancel - _TICK)
        cursor = at
        # A start cut to zero length (ended early exactly then) is skipped; there is one at most.
        for _ in range(3):
            best = self._earliest(cursor + _TICK, limit)
            if best is None or self.end_of(best) > best:
                return best
            cursor = best
        return None


class CompiledWindow:
    """A validated window with its recurrence parsed and a cache of its current state."""

    __slots__ = ("_cache", "_checks", "_timing", "window")

    def __init__(
        self, window: MaintenanceWindow, timing: _OneOff | _Recurrence, checks: list[Check]
    ) -> None:
        self.window = window
        self._timing = timing
        self._checks = tuple(checks)
        self._cache: tuple[float, float, Occurrence | None] = (math.inf, -math.inf, None)

    @property
    def scope_checks(self) -> tuple[Check, ...]:
        """The compiled scope checks (empty: the whole tenant)."""
        return self._checks

    def scope_matches(self, facts: Facts) -> bool:
        """Whether the alert is inside this window's scope."""
        return all(c.test(facts) for c in self._checks)

    def occurrence_at(self, at: datetime) -> Occurrence | None:
        """The occurrence in force at `at` (UTC bounds), computed exactly."""
        return self._timing.occurrence_at(at.astimezone(UTC))

    def next_end_after(self, at: datetime) -> datetime | None:
        """The end of the occurrence in force at `at`, or of the next one; None if none."""
        utc = at.astimezone(UTC)
        occurrence = self._timing.occurrence_at(utc)
        if occurrence is not None:
            return occurrence[1]
        start = self._timing.next_start_after(utc)
        return None if start is None else self._timing.end_of(start)

    def state(self, at: datetime, ts: float) -> tuple[float, float, Occurrence | None]:
        """(valid_from, valid_until, occurrence) for `at`, reusing the last answer while valid."""
        cached = self._cache
        if cached[0] <= ts < cached[1]:
            return cached
        utc = at.astimezone(UTC)
        occurrence = self._timing.occurrence_at(utc)
        fresh: tuple[float, float, Occurrence | None]
        if occurrence is not None:
            fresh = (occurrence[0].timestamp(), occurrence[1].timestamp(), occurrence)
        else:
            start = self._timing.next_start_after(utc)
            fresh = (ts, math.inf if start is None else start.timestamp(), None)
        self._cache = fresh
        return fresh


def _build(window: MaintenanceWindow, violations: list[Violation]) -> CompiledWindow | None:
    before = len(violations)
    if not window.id:
        violations.append(Violation("id", "must not be empty"))
    zone = _zone(window.time_zone, "time_zone", violations)
    for name in ("starts_at", "ends_at", "ended_early_at", "extended_until", "cancelled_from"):
        _aware(getattr(window, name), name, violations)
    timing: _OneOff | _Recurrence | None = None
    if window.rrule is None:
        if window.starts_at is None:
            violations.append(Violation("starts_at", "required for a one-off window"))
        if window.ends_at is None:
            violations.append(Violation("ends_at", "required for a one-off window"))
        if window.duration is not None:
            violations.append(Violation("duration", "only for recurring windows; set ends_at"))
        if len(violations) == before:
            assert window.starts_at is not None
            assert window.ends_at is not None
            if window.ends_at <= window.starts_at:
                violations.append(Violation("ends_at", "must be after starts_at"))
            else:
                timing = _OneOff(window)
    else:
        if window.duration is None or window.duration <= timedelta(0):
            violations.append(Violation("duration", "a recurring window needs a positive duration"))
        elif window.duration > MAX_RECURRING_DURATION:
            violations.append(Violation("duration", f"at most {MAX_RECURRING_DURATION.days} days"))
        if window.ends_at is not None:
            violations.append(
                Violation("ends_at", "not for recurring windows; use UNTIL or COUNT in the rrule")
            )
        if zone is not None:
            rule = _parse_rrule(window, zone, violations)
            if rule is not None and len(violations) == before:
                timing = _Recurrence(window, rule, zone)
    s = window.scope
    checks = scope_checks(
        integration_ids=s.integration_ids,
        clients=s.clients,
        sites=s.sites,
        device_globs=s.device_globs,
        label_matchers=s.label_matchers,
        path="scope",
        violations=violations,
    )
    if timing is None or len(violations) > before:
        return None
    return CompiledWindow(window, timing, checks)


def inert_window(window: MaintenanceWindow) -> CompiledWindow:
    """`window` compiled as never in force (for a stored window the current checks refuse)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    timing = _OneOff(
        MaintenanceWindow(id=window.id, name=window.name, starts_at=epoch, ends_at=epoch)
    )
    return CompiledWindow(window, timing, [])


@lru_cache(maxsize=4096)
def compile_window(window: MaintenanceWindow) -> CompiledWindow:
    """Validate and compile one window (memoized); raises WindowValidationError."""
    violations: list[Violation] = []
    compiled = _build(window, violations)
    if compiled is None:
        raise WindowValidationError.from_violations(violations)
    return compiled


class CompiledWindowSet:
    """A tenant's windows, with a cache of which are active until the next boundary."""

    __slots__ = ("_cache", "windows")

    def __init__(self, windows: Sequence[CompiledWindow]) -> None:
        self.windows = tuple(windows)
        self._cache: tuple[float, float, tuple[tuple[CompiledWindow, Occurrence], ...]] = (
            math.inf,
            -math.inf,
            (),
        )

    def active_at(
        self, at: datetime, ts: float | None = None
    ) -> tuple[tuple[CompiledWindow, Occurrence], ...]:
        """The windows in force at `at` with their occurrences, in the set's order."""
        if ts is None:
            ts = at.timestamp()
        cached = self._cache
        if cached[0] <= ts < cached[1]:
            return cached[2]
        lo, hi = -math.inf, math.inf
        active: list[tuple[CompiledWindow, Occurrence]] = []
        for window in self.windows:
            valid_from, valid_until, occurrence = window.state(at, ts)
            lo = max(lo, valid_from)
            hi = min(hi, valid_until)
            if occurrence is not None:
                active.append((window, occurrence))
        result = tuple(active)
        self._cache = (lo, hi, result)
        return result

    def next_end_after(self, at: datetime) -> datetime | None:
        """The earliest end after `at` of any window's current or next occurrence."""
        ends = [e for w in self.windows if (e := w.next_end_after(at)) is not None]
        return min(ends, default=None)


def compile_windows(windows: Iterable[MaintenanceWindow]) -> CompiledWindowSet:
    """Compile a tenant's windows; raises WindowValidationError naming `windows[i].field`."""
    compiled: list[CompiledWindow] = []
    for i, window in enumerate(windows):
        try:
            compiled.append(compile_window(window))
        except WindowValidationError as exc:
            violations = [
                Violation(f"windows[{i}].{v.field_path}", v.message) for v in exc.violations
            ]
            raise WindowValidationError.from_violations(violations) from exc
    return CompiledWindowSet(compiled)
