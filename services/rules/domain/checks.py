"""Compiled condition checks shared by rules and maintenance-window scopes: the alert's
facts and one class per kind of condition."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from datetime import tzinfo

from services.rules.domain.model import (
    SEVERITY_NAMES,
    LabelMatcher,
    RoutableAlert,
    Schedule,
)
from services.rules.domain.patterns import Regex

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Facts:
    """Per-alert values derived at most once per decision, shared by every check."""

    __slots__ = ("_local", "_text", "alert", "zone")

    def __init__(self, alert: RoutableAlert, zone: tzinfo) -> None:
        self.alert = alert
        self.zone = zone
        self._text: str | None = None
        self._local: tuple[int, int] | None = None

    def text(self) -> str:
        """Title and message, case-folded, for keyword search."""
        if self._text is None:
            self._text = f"{self.alert.title}\n{self.alert.message}".casefold()
        return self._text

    def local(self) -> tuple[int, int]:
        """(weekday 0 = Monday, second of day) of the alert's time in the tenant's zone."""
        if self._local is None:
            at = self.alert.event_time.astimezone(self.zone)
            self._local = (at.weekday(), at.hour * 3600 + at.minute * 60 + at.second)
        return self._local


class Check(ABC):
    """One named condition; `test` is the hot path, `detail` explains an outcome."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def test(self, facts: Facts) -> bool:
        """Whether the alert satisfies this condition."""

    @abstractmethod
    def detail(self, facts: Facts, matched: bool) -> str:
        """A human sentence saying why the condition did or did not match."""


def _is(matched: bool) -> str:
    return "is" if matched else "is not"


class ValueCheck(Check):
    """An alert attribute must be one of a set of values (optionally case-insensitive)."""

    __slots__ = ("_fold", "_get", "_label", "_listed", "values")

    def __init__(
        self,
        name: str,
        label: str,
        get: Callable[[RoutableAlert], str | None],
        values: Iterable[str],
        *,
        fold: bool,
    ) -> None:
        super().__init__(name)
        self._label = label
        self._get = get
        self._fold = fold
        self.values = frozenset(v.casefold() if fold else v for v in values)
        self._listed = repr(sorted(self.values))

    def key(self, alert: RoutableAlert) -> str | None:
        """The value looked up in `values` for this alert."""
        value = self._get(alert)
        if value is None:
            return None
        return value.casefold() if self._fold else value

    def test(self, facts: Facts) -> bool:
        """Whether the attribute is one of the values."""
        return self.key(facts.alert) in self.values

    def detail(self, facts: Facts, matched: bool) -> str:
        """Explain the membership test."""
        value = self._get(facts.alert)
        return f"{self._label} {value!r} {_is(matched)} one of {self._listed}"


class IdOrNameCheck(Check):
    """A client or site must be listed by id (exact) or name (case-insensitive)."""

    __slots__ = ("_id", "_label", "_listed", "_name", "folded", "values")

    def __init__(
        self,
        name: str,
        label: str,
        get_id: Callable[[RoutableAlert], str | None],
        get_name: Callable[[RoutableAlert], str | None],
        values: Iterable[str],
    ) -> None:
        super().__init__(name)
        self._label = label
        self._id = get_id
        self._name = get_name
        self.values = frozenset(values)
        self.folded = frozenset(v.casefold() for v in self.values)
        self._listed = repr(sorted(self.values))

    def test(self, facts: Facts) -> bool:
        """Whether the id or the name is listed."""
        ident = self._id(facts.alert)
        if ident is not None and ident in self.values:
            return True
        name = self._name(facts.alert)
        return name is not None and name.casefold() in self.folded

    def detail(self, facts: Facts, matched: bool) -> str:
        """Explain the id/name test."""
        ident, name = self._id(facts.alert), self._name(facts.alert)
        return f"{self._label} (id {ident!r}, name {name!r}) {_is(matched)} one of {self._listed}"


class DeviceGlobCheck(Check):
    """The device name or id must match one of the globs, case-insensitively."""

    __slots__ = ("_regex", "globs")

    def __init__(self, globs: tuple[str, ...], regex: Regex) -> None:
        super().__init__("device_globs")
        self.globs = globs
        self._regex = regex

    def test(self, facts: Facts) -> bool:
        """Whether the device name or id matches a glob."""
        alert = facts.alert
        match = self._regex.fullmatch
        return bool(
            (alert.device_name is not None and match(alert.device_name))
            or (alert.device_id is not None and match(alert.device_id))
        )

    def detail(self, facts: Facts, matched: bool) -> str:
        """Explain the glob test."""
        alert = facts.alert
        return (
            f"device (name {alert.device_name!r}, id {alert.device_id!r}) "
            f"{'matches' if matched else 'matches none of'} {list(self.globs)}"
        )


class SeverityCheck(Check):
    """The alert's severity must be at least a minimum."""

    __slots__ = ("minimum",)

    def __init__(self, minimum: int) -> None:
        super().__init__("min_severity")
        self.minimum = minimum

    def test(self, facts: Facts) -> bool:
        """Whether severity >= minimum."""
        return facts.alert.severity >= self.minimum

    def detail(self, facts: Facts, matched: bool) -> str:
        """Explain the comparison."""
        sev = facts.alert.severity
        return (
            f"severity {SEVERITY_NAMES.get(sev, sev)} {'>=' if matched else '<'} "
            f"{SEVERITY_NAMES.get(self.minimum, self.minimum)}"
        )


class ConditionIdentityCheck(Check):
    """The alert's condition must equal a listed identity or match a listed glob."""

    __slots__ = ("_regex", "exact", "patterns")

    def __init__(
        self, patterns: tuple[str, ...], exact: frozenset[str], regex: Regex | None
    ) -> None:
        super().__init__("conditions")
        self.patterns = patterns
        self.exact = exact
        self._regex = regex

    @property
    def has_globs(self) -> bool:
        """Whether some pattern is a glob (so an exact-value index is not enough)."""
        return self._regex is not None

    def test(self, facts: Facts) -> bool:
        """Whether the condition identity is listed or matches a glob."""
        cond = facts.alert.condition.casefold()
        return cond in self.exact or (self._regex is not None and bool(self._regex.fullmatch(cond)))

    def detail(self, facts: Facts, matched: bool) -> str:
        """Explain the identity test."""
        return (
            f"condition {facts.alert.condition!r} "
            f"{'matches' if matched else 'matches none of'} {list(self.patterns)}"
        )


class MessageRegexCheck(Check):
    """The message must contain a match for a regular expression."""

    __slots__ = ("_regex",)

    def __init__(self, regex: Regex) -> None:
        super().__init__("message_regex")
        self._regex = regex

    def test(self, facts: Facts) -> bool:
        """Whether the regex finds a match anywhere in the message."""
        return self._regex.search(facts.alert.message) is not None

    def detail(self, facts: Facts, matched: bool) -> str:
        """Explain the regex test."""
        verb = "found" if matched else "not found"
        return f"/{self._regex.pattern}/ {verb} in the message"


class KeywordsCheck(Check):
    """Any keyword must occur, case-insensitively, in the title or message."""

    __slots__ = ("keywords",)

    def __init__(self, keywords: Iterable[str]) -> None:
        super().__init__("keywords")
        self.keywords = tuple(k.casefold() for k in keywords)

    def test(self, facts: Facts) -> bool:
        """Whether some keyword occurs."""
        text = facts.text()
        return any(k in text for k in self.keywords)

    def detail(self, facts: Facts, matched: bool) -> str:
        """Name the keywords that occur, or say none do."""
        if not matched:
            return f"none of {list(self.keywords)} in title or message"
        text = facts.text()
        return f"found {[k for k in self.keywords if k in text]} in title or message"


class CompiledLabelMatcher:
    """A label matcher with its regex compiled and anchored, as Alertmanager does."""

    __slots__ = ("_regex", "matcher")

    def __init__(self, matcher: LabelMatcher, regex: Regex | None) -> None:
        self.matcher = matcher
        self._regex = regex

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Apply the matcher; a missing label is the empty string."""
        m = self.matcher
        value = labels.get(m.name, "")
        if m.op == "=":
            return value == m.value
        if m.op == "!=":
            return value != m.value
        assert self._regex is not None
        found = self._regex.fullmatch(value) is not None
        return found if m.op == "=~" else not found

    def __str__(self) -> str:
        m = self.matcher
        return f'{m.name}{m.op}"{m.value}"'


class LabelMatchersCheck(Check):
    """Every label matcher must hold."""

    __slots__ = ("matchers",)

    def __init__(self, matchers: tuple[CompiledLabelMatcher, ...]) -> None:
        super().__init__("label_matchers")
        self.matchers = matchers

    def test(self, facts: Facts) -> bool:
        """Whether all matchers hold."""
        labels = facts.alert.labels
        return all(m.matches(labels) for m in self.matchers)

    def detail(self, facts: Facts, matched: bool) -> str:
        """Name the first failing matcher, or list the ones that held."""
        labels = facts.alert.labels
        for m in self.matchers:
            if not m.matches(labels):
                return f"{m} does not hold (label is {labels.get(m.matcher.name, '')!r})"
        return "all hold: " + ", ".join(str(m) for m in self.matchers)


class ScheduleCheck(Check):
    """The alert's local time must fall on a listed day within a listed time range."""

    __slots__ = ("_days", "_ranges", "_zone", "schedule")

    def __init__(self, schedule: Schedule, zone: tzinfo | None = None) -> None:
        super().__init__("schedule")
        self.schedule = schedule
        self._zone = zone
        self._days = schedule.days or frozenset(range(7))
        self._ranges = tuple(
            (
                r.start.hour * 3600 + r.start.minute * 60 + r.start.second,
                r.end.hour * 3600 + r.end.minute * 60 + r.end.second,
            )
            for r in schedule.ranges
        )

    def covers(self, weekday: int, second: int) -> bool:
        """Whether (weekday, second of day) is inside the schedule."""
        days = self._days
        if not self._ranges:
            return weekday in days
        today = weekday in days
        yesterday = (weekday - 1) % 7 in days
        for start, end in self._ranges:
            if start < end:
                if today and start <= second < end:
                    return True
            elif (today and second >= start) or (yesterday and second < end):
                return True
        return False

    def _local(self, facts: Facts) -> tuple[int, int]:
        if self._zone is None:
            return facts.local()
        at = facts.alert.event_time.astimezone(self._zone)
        return at.weekday(), at.hour * 3600 + at.minute * 60 + at.second

    def test(self, facts: Facts) -> bool:
        """Whether the alert's local time is covered."""
        weekday, second = self._local(facts)
        return self.covers(weekday, second)

    def detail(self, facts: Facts, matched: bool) -> str:
        """Explain with the local time used."""
        weekday, second = self._local(facts)
        hhmm = f"{second // 3600:02d}:{second % 3600 // 60:02d}"
        zone = self._zone or facts.zone
        return f"local time {_DAY_NAMES[weekday]} {hhmm} ({zone}) {_is(matched)} in schedule"
