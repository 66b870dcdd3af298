"""EvaluateAlert: the decision the current rules give one alert, without side effects."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.rules.domain.records import DecisionRecord
from services.rules.domain.views import Evaluation
from services.rules.errors import AlertNotFound
from services.rules.service.clock import Clock
from services.rules.service.compiled import RuleSetCache
from services.rules.service.decoding import Decoder
from services.rules.service.routing import evaluate
from services.rules.store.decisions import get_decision
from triage.runtime import Database, InvalidArgument


class Evaluating:
    """Decides a logged or a given alert against the tenant's rules in force."""

    def __init__(
        self, *, db: Database, clock: Clock, cache: RuleSetCache, decoder: Decoder
    ) -> None:
        self.db = db
        self.clock = clock
        self.cache = cache
        self.decoder = decoder

    async def evaluate(
        self,
        *,
        tenant_id: str,
        alert_id: str | None,
        alert: bytes | None,
        at: datetime | None,
    ) -> Evaluation:
        """Decide the logged alert ``alert_id`` (at its time unless ``at``) or the serialized
        ``alert`` (at ``at``, else now)."""
        async with self.db.transaction(tenant_id) as session:
            if alert_id is not None:
                row = await get_decision(session, alert_id=alert_id)
                if row is None:
                    raise AlertNotFound(f"alert {alert_id} not found")
                alert = row.alert
                at = at or row.occurred_at
            if alert is None:
                raise InvalidArgument.field("target", "alert_id or alert is required")
            compiled = await self.cache.get(session, tenant_id)
        when = at or self.clock.now()
        routable = self.decoder.alert(alert, now=when)
        if routable.tenant_id != tenant_id:
            routable = replace(routable, tenant_id=tenant_id)
        return evaluate(compiled, routable, when)

    async def logged(self, *, tenant_id: str, alert_id: str) -> DecisionRecord:
        """The decision logged for the tenant's alert ``alert_id`` when it was received."""
        async with self.db.transaction(tenant_id) as session:
            row = await get_decision(session, alert_id=alert_id)
        if row is None:
            raise AlertNotFound(f"alert {alert_id} not found")
        return row
