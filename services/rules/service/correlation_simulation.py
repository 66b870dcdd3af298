"""SimulateCorrelation: replay logged alerts through correlation rules (proposed or in force)
and report the incidents they would have formed and the tickets that saves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.rules.domain.correlation import (
    CompiledCorrelationRule,
    CompiledCorrelationSet,
    CorrelationRule,
    compile_correlation_rule,
)
from services.rules.domain.incidents import CorrelationSimulation, Replayed, form_incidents
from services.rules.domain.model import Violation
from services.rules.service.clock import Clock
from services.rules.service.common import invalid
from services.rules.service.compiled import RuleSetCache
from services.rules.service.decoding import Decoder
from services.rules.store.decisions import decisions_between
from triage.runtime import Database, InvalidArgument

MAX_SIMULATED_ALERTS = 100_000


def _as_named(path: str) -> str:
    return path


class SimulatingCorrelation:
    """Runs correlation simulations against a tenant's decision log."""

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
        proposed: Sequence[CorrelationRule] | None,
        violations: Sequence[Violation] = (),
    ) -> CorrelationSimulation:
        """Replay the alerts that occurred in ``[start, end)`` (end: now) in occurred order
        through the ``proposed`` correlation rules (None: the ones in force); whether an
        alert opens a ticket is what its logged routing decision said."""
        if violations:
            raise invalid(violations, _as_named)
        end = end or self.clock.now()
        if end <= start:
            raise InvalidArgument.field("end_time", "must be after start_time")
        cap = max_alerts or MAX_SIMULATED_ALERTS
        async with self.db.transaction(tenant_id) as session:
            compiled = await self.cache.get(session, tenant_id)
            rows = await decisions_between(session, start=start, end=end, limit=cap + 1)
        correlation = compiled.correlation
        if proposed is not None:
            found: list[Violation] = []
            rules: list[CompiledCorrelationRule] = [
                compile_correlation_rule(r, found, f"proposed.correlation_rules[{i}].")
                for i, r in enumerate(proposed)
            ]
            if found:
                raise invalid(found, _as_named)
            correlation = CompiledCorrelationSet(rules, compiled.rules.zone)
        truncated = len(rows) > cap
        replayed = []
        for row in rows[:cap]:
            alert = self.decoder.alert(row.alert)
            replayed.append(
                Replayed(
                    alert=alert,
                    create_ticket=row.create_ticket and row.kind != "suppressed",
                    correlation=correlation.correlate(alert),
                )
            )
        return CorrelationSimulation(
            report=form_incidents(replayed),
            truncated=truncated,
            rule_set_version=compiled.version,
        )
