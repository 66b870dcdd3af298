"""Performs due outbound resets: claim (SKIP LOCKED), call the provider, record, retry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag

from services.ingest.clients.http import default_http_client
from services.ingest.clients.resets import IntegrationApi, ResetClient, reset_blocker
from services.ingest.domain.alert_events import StoredAlert
from services.ingest.domain.integrations import Integration
from services.ingest.domain.reset_policy import (
    Decision,
    ResetResult,
    ResetState,
    RetryPolicy,
    Verdict,
    decide,
)
from services.ingest.events import reset_outcome
from services.ingest.store.integrations import integrations_by_id
from services.ingest.store.resets import claim_due_resets, next_reset_due, record_reset
from triage.runtime import Database, Outbox, SecretBox, wait_event

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Job:
    alert: StoredAlert
    lease: datetime
    api: IntegrationApi | None
    problem: ResetResult | None
    blocker: str | None


class ResetWorker:
    """Claims due pending resets across tenants and drives each to a final state.

    The provider call happens outside any transaction; the claim leases the row by moving
    its due time ``lease_seconds`` on, and the outcome is written only while that lease
    still holds, so a worker that overran its lease changes nothing.
    """

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        box: SecretBox,
        clients: Mapping[str, ResetClient],
        policy: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        http_timeout_seconds: float = 10.0,
        clock: Callable[[], datetime] = _utcnow,
        rand: Callable[[], float] = random.random,
        batch_size: int = 32,
        lease_seconds: float = 120.0,
        idle_seconds: float = 30.0,
        busy_retry_seconds: float = 0.05,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._box = box
        self._clients = clients
        self._policy = policy or RetryPolicy()
        self._http = http
        self._http_timeout = http_timeout_seconds
        self._clock = clock
        self._rand = rand
        self._batch_size = batch_size
        self._lease = timedelta(seconds=lease_seconds)
        self._attempt_timeout = lease_seconds / 2
        self._idle = idle_seconds
        self._busy_retry = busy_retry_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due resets now (called after a commit that requested one)."""
        self._wake.set()

    async def run(self) -> None:
        """Work until cancelled, sleeping until the next due reset or a wake-up."""
        async with contextlib.AsyncExitStack() as stack:
            if self._http is None:
                self._http = await stack.enter_async_context(
                    default_http_client(self._http_timeout)
                )
            while True:
                claimed = 0
                try:
                    while (claimed := await self.run_once()) == self._batch_size:
                        pass
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbound reset pass failed; retrying")
                    await self._sleep(min(self._idle, 1.0))
                    continue
                await self._sleep(await self._seconds_until_due(claimed))

    async def run_once(self) -> int:
        """Claim one batch of due resets and attempt them concurrently; returns how many."""
        jobs = await self._claim()
        results = await asyncio.gather(
            *(self._attempt(job) for job in jobs), return_exceptions=True
        )
        for job, outcome in zip(jobs, results, strict=True):
            if isinstance(outcome, BaseException):
                log.error(
                    "outbound reset attempt not recorded; retried after its lease",
                    exc_info=outcome,
                    extra={"alert_id": str(job.alert.id)},
                )
        return len(jobs)

    async def _claim(self) -> list[_Job]:
        now = self._clock()
        lease = now + self._lease
        async with self._db.system_transaction() as session:
            rows = await claim_due_resets(
                session, now=now, lease_until=lease, limit=self._batch_size
            )
            found = await integrations_by_id(session, sorted({str(r.integration_id) for r in rows}))
        return [self._job(row, found.get(str(row.integration_id)), lease) for row in rows]

    def _job(self, alert: StoredAlert, integration: Integration | None, lease: datetime) -> _Job:
        if integration is None or integration.deleted_at is not None:
            return _Job(alert, lease, None, None, "the integration was deleted")
        blocker = reset_blocker(
            provider=integration.provider,
            settings=integration.settings,
            has_secret=integration.api_secret is not None,
            disabled=integration.disabled,
            clients=self._clients,
        )
        if blocker is not None:
            return _Job(alert, lease, None, None, blocker)
        api_settings = (integration.settings or {}).get("api") or {}
        try:
            assert integration.api_secret is not None  # reset_blocker: there is one
            secret = self._box.decrypt(
                integration.api_secret,
                associated_data=f"integration:{integration.id}".encode(),
            ).decode()
        except (ValueError, InvalidTag):
            problem = ResetResult(Verdict.PERMANENT, 0, "the stored API secret cannot be decrypted")
            return _Job(alert, lease, None, problem, None)
        api = IntegrationApi(
            integration_id=str(integration.id),
            provider=integration.provider,
            base_url=str(api_settings["base_url"]),
            client_id=str(api_settings["client_id"]),
            client_secret=secret,
        )
        return _Job(alert, lease, api, None, None)

    async def _attempt(self, job: _Job) -> None:
        if job.blocker is not None:
            await self._record(job, Decision(ResetState.UNSUPPORTED, job.blocker), None)
            return
        result = job.problem or await self._call(job)
        attempts = job.alert.reset_attempts + 1
        decision = decide(
            result, attempts=attempts, policy=self._policy, now=self._clock(), rand=self._rand
        )
        await self._record(job, decision, result)

    async def _call(self, job: _Job) -> ResetResult:
        assert job.api is not None and self._http is not None
        client = self._clients[job.api.provider]
        try:
            async with asyncio.timeout(self._attempt_timeout):
                return await client.reset(asdict(job.alert), job.api, self._http)
        except TimeoutError:
            return ResetResult(Verdict.RETRY, 0, "the provider did not answer in time")
        except Exception as exc:
            log.exception("provider client failed", extra={"provider": job.api.provider})
            return ResetResult(Verdict.RETRY, 0, f"unexpected error: {type(exc).__name__}")

    async def _record(self, job: _Job, decision: Decision, result: ResetResult | None) -> None:
        now = self._clock()
        values: dict[str, Any] = {
            "reset_state": decision.state.value,
            "reset_last_outcome": decision.outcome,
            "reset_next_attempt_at": decision.next_attempt_at,
        }
        if result is not None:
            values.update(
                reset_attempts=job.alert.reset_attempts + 1,
                reset_last_attempt_at=now,
                reset_last_code=result.code or None,
            )
        if decision.state.final:
            values["reset_completed_at"] = now
        alert_id = str(job.alert.id)
        async with self._db.transaction(str(job.alert.tenant_id)) as session:
            row = await record_reset(session, alert_id=alert_id, lease=job.lease, values=values)
            if row is None:
                log.warning(
                    "outbound reset lease lost; outcome dropped", extra={"alert_id": alert_id}
                )
                return
            if decision.state.final:
                await self._outbox.add(session, reset_outcome(row, completed_at=now))
        log.info(
            "outbound reset attempt",
            extra={
                "alert_id": alert_id,
                "state": decision.state.value,
                "code": result.code if result else None,
                "outcome": decision.outcome,
            },
        )

    async def _seconds_until_due(self, claimed: int) -> float:
        try:
            async with self._db.system_transaction() as session:
                due = await next_reset_due(session)
        except Exception:
            log.warning("could not read the next due reset", exc_info=True)
            return min(self._idle, 1.0)
        if due is None:
            return self._idle
        wait = (due - self._clock()).total_seconds()
        if wait <= 0 and claimed == 0:
            return self._busy_retry
        return min(max(wait, 0.0), self._idle)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            await wait_event(self._wake, seconds)
        self._wake.clear()
