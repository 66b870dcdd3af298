"""The reconciliation poll's use cases: claim due cycles, apply a cycle's listing,
record a failed one, and the status the API shows.

The provider call itself happens in the worker (workers/polls.py), outside any
transaction; what it found comes back here as :class:`PolledBody` values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.ingest.domain.alerts import (
    AlertKind,
    IntegrationContext,
    NormalizationError,
    NormalizedAlert,
    Provider,
)
from services.ingest.domain.identity import reconcile_key
from services.ingest.domain.integrations import Integration
from services.ingest.domain.normalizers import normalize
from services.ingest.domain.polling import (
    Outcome,
    PollRow,
    grace_seconds,
    inactive_delivery_key,
    inactive_reset,
    next_delay,
    poll_interval_seconds,
    polled_trigger,
    reconcile,
)
from services.ingest.domain.records import AlertRecord, RawBody
from services.ingest.service.base import ServiceBase, sealing_aad
from services.ingest.service.intake import new_record
from services.ingest.store import polls as store
from services.ingest.store.integrations import integrations_by_id
from triage.runtime import new_id

log = logging.getLogger(__name__)
#: How far back a cycle looks for the integration's series.
SERIES_HORIZON = timedelta(days=30)
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class PollJob:
    """One leased cycle and what the worker needs to call the provider."""

    claim: store.PollClaim
    provider: str
    base_url: str
    client_id: str
    secret: str = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    interval: float = 900.0

    @property
    def integration_id(self) -> str:
        """The polled integration."""
        return self.claim.integration_id


@dataclass(frozen=True, slots=True)
class PolledBody:
    """One alert the provider listed active: the key to store it under and its body in
    the provider's webhook shape."""

    delivery_key: str
    body: bytes


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What a cycle did (for the status row and the metrics)."""

    found: int
    created: int
    resolved: int
    recorded: bool


class PollUseCases(ServiceBase):
    """Reconciliation polling."""

    async def claim_poll_jobs(self, *, me: str, lease_seconds: float, batch: int) -> list[PollJob]:
        """Sync who is polled, then lease up to ``batch`` due cycles (SKIP LOCKED)."""
        async with self.db.system_transaction() as session:
            await store.sync_polled(session)
            claims = await store.claim_due(session, me=me, lease_seconds=lease_seconds, batch=batch)
            found = await integrations_by_id(session, [c.integration_id for c in claims])
        jobs: list[PollJob] = []
        for claim in claims:
            integration = found.get(claim.integration_id)
            if integration is None or integration.api_secret is None:
                continue
            if self.access is not None and self.access.is_suspended(claim.tenant_id):
                # Suspended: no cycle; the lease runs out and the poll is retried after it.
                continue
            try:
                jobs.append(self._job(claim, integration))
            except Exception as exc:
                # One integration's unreadable secret (a retired key) must not stop the
                # others' cycles: it fails alone, visibly, and backs off.
                log.warning("poll of %s: API secret unreadable", claim.integration_id)
                await self.fail_cycle(
                    PollJob(
                        claim=claim,
                        provider=integration.provider,
                        base_url="",
                        client_id="",
                        secret="",
                    ),
                    me=me,
                    outcome=Outcome.PERMANENT,
                    error=f"the stored API secret cannot be read ({type(exc).__name__})",
                    retry_after=None,
                )
        return jobs

    def _job(self, claim: store.PollClaim, integration: Integration) -> PollJob:
        settings = dict(integration.settings or {})
        api = settings.get("api") or {}
        secret = self.box.decrypt(
            integration.api_secret or b"", associated_data=sealing_aad(integration.id)
        ).decode()
        return PollJob(
            claim=claim,
            provider=integration.provider,
            base_url=str(api.get("base_url") or ""),
            client_id=str(api.get("client_id") or ""),
            secret=secret,
            settings=settings,
            interval=poll_interval_seconds(settings),
        )

    async def apply_cycle(
        self,
        job: PollJob,
        polled: Sequence[PolledBody],
        *,
        me: str,
        grace_override: float | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> CycleResult:
        """Apply a complete listing: ingest what is missing here, reset (after the grace
        period) what the provider no longer lists, and record the cycle."""
        started = job.claim.started_at
        context = IntegrationContext(
            provider=Provider(job.provider),
            received_at=now(),
            time_zone=str(job.settings.get("time_zone") or "UTC"),
            field_mapping=dict(job.settings.get("field_mappings") or {}),
        )
        active: dict[str, tuple[PolledBody, NormalizedAlert]] = {}
        for item in polled:
            alert = self._normalized_trigger(job.provider, item, context)
            if alert is not None:
                active.setdefault(reconcile_key(job.provider, alert), (item, alert))
        async with self.db.system_transaction() as session:
            states = await store.series_states(
                session,
                tenant_id=job.claim.tenant_id,
                integration_id=job.integration_id,
                since=now() - SERIES_HORIZON,
            )
        grace = timedelta(seconds=grace_seconds(job.interval, grace_override))
        decision = reconcile(
            active=active,
            stored=[(reconcile_key(job.provider, s), s) for s in states],
            missing_since=job.claim.missing_since,
            now=now(),
            listed_at=started,
            grace=grace,
        )
        at = now()
        created = [
            self._record(
                job, active[key][0].delivery_key, active[key][0].body, at, polled_trigger(alert)
            )
            for key in decision.create
            for alert in (active[key][1],)
        ]
        resets = [
            self._record(
                job,
                inactive_delivery_key(state),
                b"",
                at,
                inactive_reset(state, at=at),
            )
            for state in decision.reset
        ]
        results = await self.writer.write([*created, *resets])
        fresh_created = sum(1 for r in results[: len(created)] if not r.duplicate)
        fresh_resets = sum(1 for r in results[len(created) :] if not r.duplicate)
        open_keys = {reconcile_key(job.provider, s): s for s in states if s.is_open}
        reset_ids = {s.alert_id for s in decision.reset}
        polled_open = {
            key: alert_id
            for key, alert_id in job.claim.polled_open.items()
            if key in open_keys and open_keys[key].alert_id not in reset_ids
        }
        for key, result in zip(decision.create, results[: len(created)], strict=True):
            polled_open[key] = result.alert_id
        async with self.db.system_transaction() as session:
            recorded = await store.finish_cycle(
                session,
                job.claim,
                me=me,
                delay_seconds=next_delay(
                    Outcome.OK, interval=job.interval, failures=0, retry_after=None
                ),
                values={
                    "failures": 0,
                    "last_ok_at": at,
                    "last_outcome": Outcome.OK,
                    "last_error": None,
                    "last_found": len(active),
                    "last_created": fresh_created,
                    "last_resolved": fresh_resets,
                    "missing_since": decision.missing_since,
                    "polled_open": polled_open,
                },
            )
        return CycleResult(len(active), fresh_created, fresh_resets, recorded)

    def _normalized_trigger(
        self, provider: str, item: PolledBody, context: IntegrationContext
    ) -> NormalizedAlert | None:
        try:
            alerts = normalize(provider, item.body, JSON, context)
        except (NormalizationError, ValueError, TypeError, KeyError) as exc:
            log.warning("polled %s alert not understood: %s", provider, exc)
            return None
        triggers = [a for a in alerts if a.kind is AlertKind.TRIGGER]
        return triggers[0] if triggers else None

    @staticmethod
    def _record(
        job: PollJob, key: str, body: bytes, at: datetime, alert: NormalizedAlert
    ) -> AlertRecord:
        return new_record(
            tenant_id=job.claim.tenant_id,
            integration_id=job.integration_id,
            provider=job.provider,
            delivery_key=key,
            received_at=at,
            content_type=JSON,
            body=RawBody(id=new_id(), raw=body),
            alert=alert,
        )

    async def fail_cycle(
        self,
        job: PollJob,
        *,
        me: str,
        outcome: str,
        error: str,
        retry_after: float | None,
    ) -> bool:
        """Record a cycle that could not list (no reset is ever synthesized from it) and
        schedule the next with back-off."""
        failures = job.claim.failures if outcome == Outcome.RATE_LIMITED else job.claim.failures + 1
        async with self.db.system_transaction() as session:
            return await store.finish_cycle(
                session,
                job.claim,
                me=me,
                delay_seconds=next_delay(
                    outcome, interval=job.interval, failures=failures, retry_after=retry_after
                ),
                values={
                    "failures": failures,
                    "last_outcome": outcome,
                    "last_error": error[:2048],
                },
            )

    async def poll_status(
        self, *, tenant_id: str, integration_ids: Sequence[str]
    ) -> dict[str, PollRow]:
        """The poll status of the tenant's integrations that are polled."""
        async with self.db.transaction(tenant_id) as session:
            return await store.poll_rows(session, integration_ids)

    async def poll_now(self, *, tenant_id: str, integration_id: str) -> None:
        """Make an integration's next cycle due now."""
        async with self.db.transaction(tenant_id) as session:
            await store.due_now(session, integration_id)
