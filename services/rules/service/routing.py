"""Routing received alerts: decide each, log the decisions, project the firing series and
stage ``alert.routed``, one batch in one transaction, in set-based steps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain import RoutableAlert, decide
from services.rules.domain.received import IncomingAlert, canonical
from services.rules.domain.records import SettingsRecord
from services.rules.domain.views import Evaluation
from services.rules.events import alert_routed
from services.rules.service.clock import Clock
from services.rules.service.compiled import Compiled, RuleSetCache, hold_end
from services.rules.store.decisions import claim_decide_lock
from services.rules.store.series import upsert_series_many
from services.rules.store.settings import fence_held, settings_by_tenant, settings_read
from triage.runtime import Database, Inbox, Outbox, after_commit, current_fence, pipelined

log = logging.getLogger(__name__)

#: Alert kinds that move their series.
SERIES_KINDS = frozenset({"trigger", "reset"})
_DECISION_COLUMNS = (
    "decision_event_id",
    "tenant_id",
    "alert_id",
    "series_key",
    "occurred_at",
    "alert",
    "kind",
    "window_id",
    "rule_ids",
    "rule_set_version",
    "create_ticket",
    "decided_at",
)
_SERIES_COLUMNS = (
    "tenant_id",
    "series_key",
    "state",
    "last_alert_id",
    "last_event_at",
    "last_sequence",
    "trigger_alert",
    "suppressed_window_id",
    "suppressed_until",
)


def evaluate(compiled: Compiled, alert: RoutableAlert, at: datetime) -> Evaluation:
    """The decision the compiled rules and windows give ``alert`` at ``at``, explained,
    with the alert's correlation (which depends on the alert alone, never on the decision,
    so every alert of a series gets the same group key while the rule set stays)."""
    decision = decide(compiled.rules, compiled.windows, alert, at)
    correlation = compiled.correlation.correlate(alert)
    return Evaluation(decision, compiled.rules, compiled.windows, alert, at, correlation)


@dataclass(frozen=True, slots=True)
class _Decided:
    received: IncomingAlert
    compiled: Compiled
    evaluation: Evaluation
    occurred: datetime
    now: datetime
    key: tuple[str, str]  # (canonical tenant, series key)


@dataclass(slots=True)
class _SeriesRow:
    """A series row as a batch projects it (``trigger_alert`` None: keep the stored one)."""

    tenant_id: str
    series_key: str
    state: str
    last_alert_id: str
    last_event_at: datetime
    last_sequence: int
    trigger_alert: bytes | None
    suppressed_window_id: str | None
    suppressed_until: datetime | None


def _older(sequence: int, occurred: datetime, last_event_at: datetime, last_sequence: int) -> bool:
    if sequence and last_sequence:
        return bool(sequence < last_sequence)
    return bool(occurred < last_event_at)


class Routing:
    """The ``alert.received`` use case."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        clock: Clock,
        cache: RuleSetCache,
        changed: asyncio.Event,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.cache = cache
        self.changed = changed

    @asynccontextmanager
    async def transaction(
        self, tenant_ids: Sequence[str]
    ) -> AsyncIterator[tuple[AsyncSession, dict[str, SettingsRecord]]]:
        """The transaction of a batch of received alerts: BEGIN, the binding of
        ``tenant_ids`` and the read of their settings in one round trip. Yields the session
        and the settings for :meth:`route`.

        In a partitioned consumer's batch, the settings read runs the batch's fence check
        (one statement less per batch): it raises :class:`Fenced`, and the transaction
        rolls back before anything is written, if the batch's partitions moved."""
        tenants = sorted(set(tenant_ids))
        fence = current_fence()
        statement, params, rows = settings_read([canonical(t) for t in tenants], fence=fence)
        async with self.db.transaction_then(tenants, statement, params, row_factory=rows) as (
            session,
            found,
        ):
            if fence is not None:
                fence.verify(fence_held(found))
            yield session, settings_by_tenant(found)

    async def route(
        self,
        session: AsyncSession,
        received: Sequence[IncomingAlert],
        *,
        inbox: Inbox,
        settings: Mapping[str, SettingsRecord] | None = None,
    ) -> None:
        """Route a batch of received alerts, in order, in set-based steps.

        Binds the batch's tenant set in the session. Same effects as handling the events one
        after another: an event the ``inbox`` already holds (or a repeat in the batch) is
        skipped, so is an alert already decided; the rest are decided and logged, project
        their series (an older trigger or reset never overwrites a newer one) and emit
        ``alert.routed``, each carrying its own event's ``trace_headers``.
        """
        if not received:
            return
        compiled_of = await self.cache.get_many(
            session, [r.alert.tenant_id for r in received], settings=settings
        )
        columns: dict[str, list[Any]] = {name: [] for name in _DECISION_COLUMNS}
        decided: list[_Decided] = []
        lock_keys: set[tuple[str, str]] = set()
        for r in received:
            now = self.clock.now()
            alert = r.alert if r.received_known else replace(r.alert, received_at=now)
            compiled = compiled_of[alert.tenant_id]
            evaluation = evaluate(compiled, alert, now)
            decision = evaluation.decision
            occurred = alert.event_time
            columns["decision_event_id"].append(r.event_id)
            columns["tenant_id"].append(alert.tenant_id)
            columns["alert_id"].append(alert.alert_id)
            columns["series_key"].append(alert.series_key)
            columns["occurred_at"].append(occurred)
            columns["alert"].append(r.payload)
            columns["kind"].append(decision.kind)
            columns["window_id"].append(decision.window_id)
            columns["rule_ids"].append(list(decision.matched_rule_ids))
            columns["rule_set_version"].append(decision.rule_set_version)
            columns["create_ticket"].append(
                bool(decision.actions and decision.actions.create_ticket)
            )
            columns["decided_at"].append(now)
            key = (canonical(alert.tenant_id), alert.series_key)
            if alert.kind in SERIES_KINDS:
                lock_keys.add(key)
            decided.append(_Decided(r, compiled, evaluation, occurred, now, key))
        inbox_table = inbox.table
        found = await claim_decide_lock(
            session,
            inbox=f"{inbox_table.schema}.{inbox_table.name}",
            consumer=inbox.consumer,
            event_ids=[r.event_id for r in received],
            event_tenant_ids=[r.alert.tenant_id for r in received],
            decisions=columns,
            lock_keys=sorted(lock_keys),
        )
        routed: list[_Decided] = []
        taken: set[tuple[str, str]] = set()
        for d in decided:
            if d.received.event_id not in found.event_ids:
                continue  # a redelivery
            alert_key = (d.key[0], d.received.alert.alert_id)
            if alert_key not in found.logged or alert_key in taken:
                log.info("alert already routed", extra={"alert_id": d.received.alert.alert_id})
                continue
            taken.add(alert_key)
            routed.append(d)
        if not routed:
            return
        # The series upsert and the outbox insert travel together.
        async with pipelined(session):
            await self._project_series(session, routed, found.series)
            await self.outbox.add(
                session,
                *(alert_routed(d.received.payload, d.evaluation, "alert_received") for d in routed),
                trace_headers=[d.received.trace_headers for d in routed],
            )

    async def _project_series(
        self,
        session: AsyncSession,
        routed: Sequence[_Decided],
        stored: dict[tuple[str, str], tuple[datetime, int]],
    ) -> None:
        """Move the series of ``routed`` alerts, in order, from their ``stored`` (locked)
        state: the latest trigger or reset of each series wins; one upsert for all."""
        # Each series' last event: (event time, sequence), stored or projected in this batch.
        latest: dict[tuple[str, str], tuple[datetime, int]] = dict(stored)
        changed: dict[tuple[str, str], _SeriesRow] = {}
        held = False
        for d in routed:
            alert = d.evaluation.alert
            if alert.kind not in SERIES_KINDS:
                continue
            last = latest.get(d.key)
            if last is not None and _older(d.received.sequence, d.occurred, last[0], last[1]):
                continue
            previous = changed.get(d.key)
            row = _SeriesRow(
                tenant_id=alert.tenant_id,
                series_key=alert.series_key,
                state="reset",
                last_alert_id=alert.alert_id,
                last_event_at=d.occurred,
                last_sequence=d.received.sequence,
                # A reset keeps the trigger it ends: this batch's, else (None) the stored one.
                trigger_alert=None if previous is None else previous.trigger_alert,
                suppressed_window_id=None,
                suppressed_until=None,
            )
            if alert.kind == "trigger":
                row.state = "firing"
                row.trigger_alert = d.received.payload
                window_id = d.evaluation.decision.window_id
                if window_id is not None:
                    row.suppressed_window_id = window_id
                    row.suppressed_until = hold_end(d.compiled, window_id, d.now)
                    held = True
            changed[d.key] = row
            latest[d.key] = (d.occurred, d.received.sequence)
        if not changed:
            return
        columns: dict[str, list[Any]] = {name: [] for name in _SERIES_COLUMNS}
        for row in changed.values():
            for name in _SERIES_COLUMNS:
                columns[name].append(getattr(row, name))
        await upsert_series_many(session, columns)
        if held:
            after_commit(session, self.changed.set)
