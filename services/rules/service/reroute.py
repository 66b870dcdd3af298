"""Re-routing when a window ends: a series a window held is decided again, and routed unless
another window holds it now."""

from __future__ import annotations

from datetime import datetime

from services.rules.events import alert_routed
from services.rules.service.clock import Clock
from services.rules.service.compiled import RuleSetCache, hold_end
from services.rules.service.decoding import Decoder
from services.rules.service.routing import evaluate
from services.rules.store.series import due_series, lock_due_series, next_hold_end, update_series
from triage.runtime import Database, Outbox


class WindowEndRouting:
    """The window-end use case: what the window-end worker runs each time a hold ends."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        clock: Clock,
        cache: RuleSetCache,
        decoder: Decoder,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.cache = cache
        self.decoder = decoder

    async def reroute_due(self, *, limit: int = 500) -> int:
        """Re-evaluate held series whose window ended; returns how many were routed."""
        now = self.clock.now()
        async with self.db.system_transaction() as session:
            due = await due_series(session, now=now, limit=limit)
        by_tenant: dict[str, list[str]] = {}
        for row in due:
            by_tenant.setdefault(row.tenant_id, []).append(row.series_key)
        routed = 0
        for tenant_id, keys in by_tenant.items():
            async with self.db.transaction(tenant_id) as session:
                compiled = await self.cache.get(session, tenant_id)
                for held in await lock_due_series(session, keys=keys, now=now):
                    alert = self.decoder.alert(held.trigger_alert, now=now)
                    evaluation = evaluate(compiled, alert, now)
                    window_id = evaluation.decision.window_id
                    if window_id is not None:
                        await update_series(
                            session,
                            series_key=held.series_key,
                            values={
                                "suppressed_window_id": window_id,
                                "suppressed_until": hold_end(compiled, window_id, now),
                            },
                        )
                        continue
                    await update_series(
                        session,
                        series_key=held.series_key,
                        values={"suppressed_window_id": None, "suppressed_until": None},
                    )
                    await self.outbox.add(
                        session, alert_routed(held.trigger_alert, evaluation, "window_ended")
                    )
                    routed += 1
        return routed

    async def next_hold_end(self) -> datetime | None:
        """When the earliest hold of any tenant ends (None: nothing is held)."""
        async with self.db.system_transaction() as session:
            return await next_hold_end(session)
