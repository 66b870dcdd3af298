"""Simulation: what a proposed rule set and windows would have done to past alerts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from services.rules.domain.compiler import CompiledRuleSet
from services.rules.domain.decision import Decision, decide
from services.rules.domain.model import RoutableAlert
from services.rules.domain.windows import CompiledWindowSet, MaintenanceWindow, compile_windows

RowKind = Literal["rule", "window", "unmatched"]
UNMATCHED_KEY = "(unmatched)"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeCounts:
    """Counts for one side (current or proposed) of one row or of the whole run.

    `tickets_opened` counts trigger alerts whose decision creates a ticket (it does not
    model de-duplication into an already open ticket); `record_only` counts routed or
    unmatched alerts that create no ticket.
    """

    routed: int = 0
    tickets_opened: int = 0
    record_only: int = 0
    suppressed: int = 0
    unmatched: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationRow:
    """One rule, window, or the unmatched bucket, current beside proposed."""

    key: str
    kind: RowKind
    name: str
    current: OutcomeCounts
    proposed: OutcomeCounts


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationReport:
    """Totals and per-row counts for both sides, and the alerts whose decision changed."""

    alerts: int
    current: OutcomeCounts
    proposed: OutcomeCounts
    rows: tuple[SimulationRow, ...]
    changed_alert_ids: tuple[str, ...] = field(default=())


class _Tally:
    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}

    def add(self, key: str, slot: int) -> None:
        self.counts.setdefault(key, [0] * 5)[slot] += 1

    def get(self, key: str) -> OutcomeCounts:
        c = self.counts.get(key, [0] * 5)
        return OutcomeCounts(
            routed=c[0], tickets_opened=c[1], record_only=c[2], suppressed=c[3], unmatched=c[4]
        )


_ROUTED, _TICKET, _RECORD, _SUPPRESSED, _UNMATCHED = range(5)
_TOTAL = "\0total"


def _count(tally: _Tally, decision: Decision, alert: RoutableAlert) -> None:
    if decision.kind == "suppressed":
        assert decision.window_id is not None
        for key in (f"window:{decision.window_id}", _TOTAL):
            tally.add(key, _SUPPRESSED)
        return
    key = UNMATCHED_KEY if decision.rule_id is None else decision.rule_id
    creates = decision.actions is not None and decision.actions.create_ticket
    for k in (key, _TOTAL):
        tally.add(k, _UNMATCHED if decision.kind == "unmatched" else _ROUTED)
        if not creates:
            tally.add(k, _RECORD)
        elif alert.kind == "trigger":
            tally.add(k, _TICKET)


def _signature(d: Decision) -> tuple[object, ...]:
    return (d.kind, d.window_id, d.matched_rule_ids, d.actions, d.priority)


def _window_set(windows: CompiledWindowSet | Iterable[MaintenanceWindow]) -> CompiledWindowSet:
    return windows if isinstance(windows, CompiledWindowSet) else compile_windows(windows)


def simulate(
    current: CompiledRuleSet,
    proposed: CompiledRuleSet,
    windows_current: CompiledWindowSet | Iterable[MaintenanceWindow],
    windows_proposed: CompiledWindowSet | Iterable[MaintenanceWindow],
    alerts: Iterable[RoutableAlert],
) -> SimulationReport:
    """Decide every alert at its `received_at` under both sides and count outcomes per row."""
    current_windows = _window_set(windows_current)
    proposed_windows = _window_set(windows_proposed)
    # Time order keeps each window set's boundary cache warm.
    ordered = sorted(alerts, key=lambda a: a.received_at)
    left, right = _Tally(), _Tally()
    changed: list[str] = []
    for alert in ordered:
        before = decide(current, current_windows, alert, alert.received_at)
        after = decide(proposed, proposed_windows, alert, alert.received_at)
        _count(left, before, alert)
        _count(right, after, alert)
        if _signature(before) != _signature(after):
            changed.append(alert.alert_id)
    rows: list[SimulationRow] = []
    seen: set[str] = set()
    for rule_set in (proposed, current):
        for rule in rule_set.rules:
            if rule.rule.id not in seen:
                seen.add(rule.rule.id)
                rows.append(_row(rule.rule.id, "rule", rule.rule.name, left, right))
    for window_set in (proposed_windows, current_windows):
        for window in window_set.windows:
            key = f"window:{window.window.id}"
            if key not in seen:
                seen.add(key)
                rows.append(_row(key, "window", window.window.name, left, right))
    rows.append(_row(UNMATCHED_KEY, "unmatched", "no rule matched", left, right))
    return SimulationReport(
        alerts=len(ordered),
        current=left.get(_TOTAL),
        proposed=right.get(_TOTAL),
        rows=tuple(rows),
        changed_alert_ids=tuple(changed),
    )


def _row(key: str, kind: RowKind, name: str, left: _Tally, right: _Tally) -> SimulationRow:
    return SimulationRow(
        key=key, kind=kind, name=name, current=left.get(key), proposed=right.get(key)
    )
