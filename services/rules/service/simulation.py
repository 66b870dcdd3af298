"""SimulateRules: replay logged alerts through proposed rules and windows, beside what the
rules in force decided."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.rules.domain import (
    CompiledRuleSet,
    CompiledWindowSet,
    MaintenanceWindow,
    OutcomeCounts,
    RoutableAlert,
    RuleSet,
    RuleValidationError,
    Violation,
    compile_rule_set,
    compile_windows,
    simulate,
    validate_window,
)
from services.rules.domain.drafts import ProposedRules, ProposedWindow
from services.rules.domain.records import DecisionRecord, window_of
from services.rules.domain.views import RuleOutcome, SimulationResult, WindowOutcome
from services.rules.service.clock import Clock
from services.rules.service.common import invalid
from services.rules.service.compiled import Compiled, RuleSetCache
from services.rules.service.decoding import Decoder
from services.rules.store.decisions import decisions_between
from triage.runtime import Database, InvalidArgument

MAX_SIMULATED_ALERTS = 100_000
_NONE = OutcomeCounts()
_TALLIED = ("matched", "tickets_opened", "recorded", "suppressed", "unmatched")


def _as_named(path: str) -> str:
    return path


def _tally_log(
    rows: Sequence[DecisionRecord], alerts: Sequence[RoutableAlert]
) -> dict[str, OutcomeCounts]:
    """What the rules in force did: counts per first rule, per window, and in total ("")."""
    tally: dict[str, dict[str, int]] = {}

    def bump(key: str, field: str) -> None:
        counts = tally.setdefault(key, dict.fromkeys(_TALLIED, 0))
        counts[field] += 1

    for row, alert in zip(rows, alerts, strict=True):
        if row.kind == "suppressed":
            for key in (f"window:{row.window_id}", ""):
                bump(key, "suppressed")
            continue
        key = row.rule_ids[0] if row.rule_ids else "(unmatched)"
        for k in (key, ""):
            bump(k, "unmatched" if row.kind == "unmatched" else "matched")
            if not row.create_ticket:
                bump(k, "recorded")
            elif alert.kind == "trigger":
                bump(k, "tickets_opened")
    return {
        key: OutcomeCounts(
            routed=c["matched"],
            tickets_opened=c["tickets_opened"],
            record_only=c["recorded"],
            suppressed=c["suppressed"],
            unmatched=c["unmatched"],
        )
        for key, c in tally.items()
    }


class Simulating:
    """Runs simulations against a tenant's decision log."""

    def __init__(
        self, *, db: Database, clock: Clock, cache: RuleSetCache, decoder: Decoder
    ) -> None:
        self.db = db
        self.clock = clock
        self.cache = cache
        self.decoder = decoder

    async def simulate(
        self,
        *,
        tenant_id: str,
        start: datetime,
        end: datetime | None,
        max_alerts: int,
        rules: ProposedRules | None,
        windows: Sequence[ProposedWindow] | None,
    ) -> SimulationResult:
        """Replay the alerts that occurred in ``[start, end)`` (end: now) through the
        proposed ``rules`` and ``windows`` (None: the ones in force)."""
        end = end or self.clock.now()
        if end <= start:
            raise InvalidArgument.field("end_time", "must be after start_time")
        cap = max_alerts or MAX_SIMULATED_ALERTS
        async with self.db.transaction(tenant_id) as session:
            compiled = await self.cache.get(session, tenant_id)
            rows = await decisions_between(session, start=start, end=end, limit=cap + 1)
            proposed_rules, ids = (
                self._proposed_rules(tenant_id, compiled, rules)
                if rules is not None
                else (compiled.rules, [r.rule.id for r in compiled.rules.rules])
            )
            proposed_windows = (
                self._proposed_windows(compiled.time_zone, windows)
                if windows is not None
                else compiled.windows
            )
        truncated = len(rows) > cap
        rows = rows[:cap]
        alerts = [self.decoder.alert(row.alert) for row in rows]
        report = simulate(
            proposed_rules, proposed_rules, proposed_windows, proposed_windows, alerts
        )
        current = _tally_log(rows, alerts)
        names = {r.rule.id: r.rule.name for r in compiled.rules.rules}
        index = {rid: i for i, rid in enumerate(ids)}
        seen: set[str] = set()
        window_names = {w.window.id: w.window.name for w in compiled.windows.windows}
        rule_outcomes: list[RuleOutcome] = []
        window_outcomes: list[WindowOutcome] = []
        for row_report in report.rows:
            if row_report.kind == "window":
                wid = row_report.key.removeprefix("window:")
                seen.add(row_report.key)
                window_names.setdefault(wid, row_report.name)
                window_outcomes.append(
                    WindowOutcome(
                        window_id="" if wid.startswith("new-") else wid,
                        name=row_report.name,
                        proposed_suppressed=row_report.proposed.suppressed,
                        current_suppressed=current.get(row_report.key, _NONE).suppressed,
                    )
                )
                continue
            if row_report.kind == "unmatched":
                continue
            seen.add(row_report.key)
            rule_outcomes.append(
                RuleOutcome(
                    rule_id="" if row_report.key.startswith("new-") else row_report.key,
                    name=row_report.name,
                    proposed_index=index.get(row_report.key, -1),
                    proposed=row_report.proposed,
                    current=current.get(row_report.key, _NONE),
                )
            )
        for rid, name in names.items():
            if rid not in seen:
                rule_outcomes.append(
                    RuleOutcome(
                        rule_id=rid,
                        name=name,
                        proposed_index=-1,
                        current=current.get(rid, _NONE),
                    )
                )
        for wid, name in window_names.items():
            if f"window:{wid}" not in seen:
                window_outcomes.append(
                    WindowOutcome(
                        window_id=wid,
                        name=name,
                        current_suppressed=current.get(f"window:{wid}", _NONE).suppressed,
                    )
                )
        return SimulationResult(
            alerts_evaluated=len(rows),
            truncated=truncated,
            rule_set_version=compiled.version,
            proposed_total=report.proposed,
            current_total=current.get("", _NONE),
            rules=tuple(rule_outcomes),
            windows=tuple(window_outcomes),
        )

    def _proposed_rules(
        self, tenant_id: str, compiled: Compiled, proposal: ProposedRules
    ) -> tuple[CompiledRuleSet, list[str]]:
        if proposal.violations:
            raise invalid(proposal.violations, _as_named)
        try:
            rules = compile_rule_set(
                RuleSet(
                    tenant_id=tenant_id,
                    version=compiled.version,
                    time_zone=compiled.time_zone,
                    rules=proposal.rules,
                    default_actions=compiled.rules.default_actions,
                )
            )
        except RuleValidationError as exc:
            raise invalid(exc.violations, lambda p: "proposed_rules." + p) from exc
        return rules, list(proposal.ids)

    def _proposed_windows(
        self, zone: str, proposals: Sequence[ProposedWindow]
    ) -> CompiledWindowSet:
        violations: list[Violation] = []
        domain: list[MaintenanceWindow] = []
        for proposal in proposals:
            window = window_of(proposal.values, proposal.scope, zone)
            violations.extend(
                Violation(proposal.path(v.field_path), v.message) for v in validate_window(window)
            )
            domain.append(window)
        if violations:
            raise invalid(violations, _as_named)
        return compile_windows(domain)
