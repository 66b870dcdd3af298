"""The routing decision for one alert: windows first, then ordered rules, then the default."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, overload

from jinja2.environment import Template

from services.rules.domain.actions import (
    EffectiveActions,
    merge_actions,
    priority_for,
    resolve_actions,
)
from services.rules.domain.checks import Facts
from services.rules.domain.compiler import CompiledRule, CompiledRuleSet
from services.rules.domain.model import RoutableAlert
from services.rules.domain.templates import render, template_context
from services.rules.domain.windows import (
    CompiledWindow,
    CompiledWindowSet,
    MaintenanceWindow,
    Occurrence,
    compile_windows,
)

DecisionKind = Literal["suppressed", "routed", "unmatched"]


class ExplanationEntry(NamedTuple):
    """One evaluated condition: which rule (None for windows and defaults), what, outcome, why."""

    rule_id: str | None
    condition: str
    matched: bool
    detail: str


class Explanation(Sequence[ExplanationEntry]):
    """The explanation of a decision, derived on first read.

    Deciding only needs to know which rule matched; the sentences for every condition
    of every evaluated rule are re-derived (deterministically, from the same compiled
    rules, alert and instant) when someone reads them.
    """

    __slots__ = ("_build", "_entries")

    def __init__(self, build: Callable[[], tuple[ExplanationEntry, ...]]) -> None:
        self._build: Callable[[], tuple[ExplanationEntry, ...]] | None = build
        self._entries: tuple[ExplanationEntry, ...] = ()

    @property
    def entries(self) -> tuple[ExplanationEntry, ...]:
        """All entries, materialized."""
        if self._build is not None:
            self._entries = self._build()
            self._build = None
        return self._entries

    @overload
    def __getitem__(self, index: int) -> ExplanationEntry: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[ExplanationEntry, ...]: ...

    def __getitem__(self, index: int | slice) -> ExplanationEntry | tuple[ExplanationEntry, ...]:
        return self.entries[index]

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[ExplanationEntry]:
        return iter(self.entries)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Explanation):
            return self.entries == other.entries
        if isinstance(other, Sequence):
            return list(self.entries) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Explanation({list(self.entries)!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """What to do with one alert, and why."""

    kind: DecisionKind
    alert_id: str
    tenant_id: str
    rule_set_version: int
    window_id: str | None
    matched_rule_ids: tuple[str, ...]
    actions: EffectiveActions | None
    priority: int | None
    title: str
    description: str
    explanation: Explanation

    @property
    def rule_id(self) -> str | None:
        """The rule that routed the alert (the first of a `continue_` chain)."""
        return self.matched_rule_ids[0] if self.matched_rule_ids else None


def _fmt(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _window_entry(
    window: CompiledWindow, occurrence: Occurrence, matched: bool
) -> ExplanationEntry:
    w = window.window
    scope = "in scope" if matched else "alert outside its scope"
    return ExplanationEntry(
        None,
        "maintenance_window",
        matched,
        f"window {w.id!r} ({w.name}) active {_fmt(occurrence[0])}..{_fmt(occurrence[1])}: {scope}",
    )


def _rule_entries(
    rules: CompiledRuleSet, facts: Facts, matched: Sequence[CompiledRule]
) -> list[ExplanationEntry]:
    entries: list[ExplanationEntry] = []
    last = matched[-1].index if matched else len(rules.rules) - 1
    for rule in rules.rules[: last + 1]:
        rid = rule.rule.id
        if not rule.rule.enabled:
            entries.append(ExplanationEntry(rid, "enabled", False, "rule is disabled"))
            continue
        ok = True
        for check in rule.checks:
            ok = check.test(facts)
            entries.append(ExplanationEntry(rid, check.name, ok, check.detail(facts, ok)))
            if not ok:
                break
        if ok:
            if not rule.checks:
                entries.append(
                    ExplanationEntry(rid, "conditions", True, "no conditions: matches every alert")
                )
            more = rule.rule.actions.continue_
            then = "continue: later rules may add actions" if more else "stop"
            entries.append(ExplanationEntry(rid, "rule", True, f"matched; {then}"))
    return entries


def _render(
    template: Template | None,
    fallback: str,
    what: str,
    rule_id: str | None,
    context: dict[str, Any],
    notes: list[ExplanationEntry],
) -> str:
    if template is None:
        return fallback
    try:
        rendered = render(template, context)
    except Exception as exc:
        # A template must never stop an alert from being routed.
        notes.append(
            ExplanationEntry(
                rule_id,
                f"{what}_template",
                False,
                f"render failed ({type(exc).__name__}: {exc}); used the alert {what}",
            )
        )
        return fallback
    text = rendered.text
    if rendered.limited is not None:
        # Bounded, not failed: a description keeps its text up to the cut (marked as such);
        # a cut title is worse than the alert's own.
        used = f"used the alert {what}" if what == "title" else "output truncated"
        notes.append(
            ExplanationEntry(
                rule_id, f"{what}_template", False, f"render stopped: {rendered.limited}; {used}"
            )
        )
        if what == "title":
            return fallback
    if what == "title":
        text = " ".join(text.split())
        if not text:
            notes.append(
                ExplanationEntry(
                    rule_id, "title_template", False, "rendered empty; used the alert title"
                )
            )
            return fallback
    return text


def _first_template(chain: Sequence[CompiledRule], attr: str) -> tuple[Template | None, str | None]:
    for rule in chain:
        template: Template | None = getattr(rule, attr)
        if template is not None:
            return template, rule.rule.id
    return None, None


def decide(
    compiled_rules: CompiledRuleSet,
    windows: CompiledWindowSet | Iterable[MaintenanceWindow],
    alert: RoutableAlert,
    now: datetime,
) -> Decision:
    """Route one alert: windows are judged at `now`, schedules at the alert's own time.

    An active window whose scope matches suppresses the alert. Otherwise the first
    enabled matching rule (by position, then id) routes it, and while a matched rule
    has `continue_`, later matching rules add actions (see `merge_actions`). No match
    gives "unmatched" with the rule set's default actions. Never raises for an alert.
    Pass a `CompiledWindowSet` on the hot path; plain windows are compiled per call.
    """
    if now.utcoffset() is None:
        raise ValueError("now must carry a time zone")
    window_set = windows if isinstance(windows, CompiledWindowSet) else compile_windows(windows)
    facts = Facts(alert, compiled_rules.zone)
    active = window_set.active_at(now)
    for window, occurrence in active:
        if window.scope_matches(facts):
            return _suppressed(compiled_rules, alert, window, occurrence, active)
    chain = compiled_rules.match(facts)
    notes: list[ExplanationEntry] = []
    context: dict[str, Any] | None = None
    if chain:
        first = chain[0]
        if len(chain) == 1:
            effective = first.effective
            priority = first.priorities[min(max(alert.severity, 0), len(first.priorities) - 1)]
        else:
            merged = merge_actions([r.rule.actions for r in chain])
            effective = resolve_actions(merged, matched=True)
            priority = priority_for(merged, alert.severity)
        title_t, title_rule = _first_template(chain, "title_template")
        desc_t, desc_rule = _first_template(chain, "description_template")
        kind: DecisionKind = "routed"
    else:
        effective = compiled_rules.default_effective
        priority = priority_for(compiled_rules.default_actions, alert.severity)
        title_t, title_rule = compiled_rules.default_title_template, None
        desc_t, desc_rule = compiled_rules.default_description_template, None
        kind = "unmatched"
    if title_t is not None or desc_t is not None:
        context = template_context(alert)
    title = _render(title_t, alert.title, "title", title_rule, context or {}, notes)
    description = _render(desc_t, alert.message, "description", desc_rule, context or {}, notes)

    def explain() -> tuple[ExplanationEntry, ...]:
        entries = [_window_entry(w, o, False) for w, o in active]
        entries.extend(_rule_entries(compiled_rules, facts, chain))
        if not chain:
            entries.append(
                ExplanationEntry(None, "default", True, "no rule matched; default actions apply")
            )
        entries.extend(notes)
        return tuple(entries)

    return Decision(
        kind=kind,
        alert_id=alert.alert_id,
        tenant_id=alert.tenant_id,
        rule_set_version=compiled_rules.version,
        window_id=None,
        matched_rule_ids=tuple(r.rule.id for r in chain),
        actions=effective,
        priority=priority,
        title=title,
        description=description,
        explanation=Explanation(explain),
    )


def _suppressed(
    rules: CompiledRuleSet,
    alert: RoutableAlert,
    window: CompiledWindow,
    occurrence: Occurrence,
    active: tuple[tuple[CompiledWindow, Occurrence], ...],
) -> Decision:
    def explain() -> tuple[ExplanationEntry, ...]:
        entries: list[ExplanationEntry] = []
        for w, o in active:
            entries.append(_window_entry(w, o, w is window))
            if w is window:
                break
        return tuple(entries)

    return Decision(
        kind="suppressed",
        alert_id=alert.alert_id,
        tenant_id=alert.tenant_id,
        rule_set_version=rules.version,
        window_id=window.window.id,
        matched_rule_ids=(),
        actions=None,
        priority=None,
        title=alert.title,
        description=alert.message,
        explanation=Explanation(explain),
    )
