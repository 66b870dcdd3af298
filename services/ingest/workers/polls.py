"""The reconciliation poll loop: lease due cycles, list each provider's active alerts,
hand the listing to the service, back off on errors. Safe with any number of replicas:
a cycle is leased (SKIP LOCKED) and only the lease holder records it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from dataclasses import dataclass

import httpx
from prometheus_client import Counter, Histogram
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.ingest.clients.http import default_http_client
from services.ingest.clients.poll import (
    PermanentPollError,
    PollClient,
    PollCredentials,
    PollError,
    RateLimited,
    client_for,
)
from services.ingest.domain.polling import Outcome
from services.ingest.service.polling import PolledBody, PollJob, PollUseCases
from triage.runtime import new_id, wait_event

log = logging.getLogger(__name__)

CYCLES = Counter("triage_poll_cycles_total", "Reconciliation poll cycles", ["provider", "outcome"])
CYCLE_SECONDS = Histogram(
    "triage_poll_cycle_seconds",
    "Duration of one reconciliation poll cycle (listing and reconciling)",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
FOUND = Counter("triage_poll_alerts_found_total", "Active alerts listed by polls", ["provider"])
CREATED = Counter(
    "triage_poll_alerts_created_total", "Alerts ingested because a poll found them", ["provider"]
)
RESOLVED = Counter(
    "triage_poll_alerts_resolved_total",
    "Alerts reset because the RMM no longer listed them",
    ["provider"],
)


class PollSettings(BaseSettings):
    """Tuning of the poll worker, from ``TRIAGE_POLL_*`` when built (never at import)."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_POLL_", extra="ignore", frozen=True)

    #: How often a replica looks for due cycles.
    tick_seconds: float = 10.0
    #: A cycle's lease; longer than a bounded listing (300 s) so cycles never overlap.
    lease_seconds: float = 360.0
    batch: int = 20
    concurrency: int = 4
    #: Overrides the grace period before an unlisted alert is reset (default: one
    #: interval, at least 5 minutes).
    grace_seconds: float | None = None
    http_timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class _Cached:
    fingerprint: str
    client: PollClient


class PollWorker:
    """Runs due reconciliation cycles on this replica."""

    def __init__(
        self,
        *,
        service: PollUseCases,
        settings: PollSettings | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """``http`` is shared by every poll client (built on first use when None)."""
        self.service = service
        self.settings = settings or PollSettings()
        self.me = f"{socket.gethostname()}:{new_id()}"
        self._http = http
        self._clients: dict[str, _Cached] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for due cycles now."""
        self._wake.set()

    async def run(self) -> None:
        """Run cycles until cancelled."""
        try:
            while True:
                try:
                    await self.run_due()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("poll tick failed")
                self._wake.clear()
                await wait_event(self._wake, self.settings.tick_seconds)
        finally:
            if self._http is not None:
                await self._http.aclose()

    async def run_due(self) -> int:
        """Lease and run the cycles due now; how many ran."""
        jobs = await self.service.claim_poll_jobs(
            me=self.me, lease_seconds=self.settings.lease_seconds, batch=self.settings.batch
        )
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(job: PollJob) -> None:
            async with gate:
                await self.run_cycle(job)

        await asyncio.gather(*(one(job) for job in jobs))
        return len(jobs)

    async def run_cycle(self, job: PollJob) -> str:
        """List the provider's active alerts and reconcile; the cycle's outcome."""
        started = time.perf_counter()
        outcome = Outcome.OK
        try:
            client = self._client(job)
            alerts = await client.list_active()
        except RateLimited as exc:
            outcome = Outcome.RATE_LIMITED
            await self._failed(job, outcome, exc, exc.retry_after_seconds)
        except PermanentPollError as exc:
            outcome = Outcome.PERMANENT
            await self._failed(job, outcome, exc, None)
        except PollError as exc:
            outcome = Outcome.TRANSIENT
            await self._failed(job, outcome, exc, exc.retry_after_seconds)
        except Exception as exc:
            log.exception("poll of integration %s failed", job.integration_id)
            outcome = Outcome.TRANSIENT
            await self._failed(job, outcome, exc, None)
        else:
            result = await self.service.apply_cycle(
                job,
                [PolledBody(a.delivery_key, a.body()) for a in alerts],
                me=self.me,
                grace_override=self.settings.grace_seconds,
            )
            FOUND.labels(job.provider).inc(result.found)
            CREATED.labels(job.provider).inc(result.created)
            RESOLVED.labels(job.provider).inc(result.resolved)
        CYCLES.labels(job.provider, outcome).inc()
        CYCLE_SECONDS.labels(job.provider).observe(time.perf_counter() - started)
        return outcome

    async def _failed(
        self, job: PollJob, outcome: str, exc: Exception, retry_after: float | None
    ) -> None:
        log.warning("poll of integration %s: %s (%s)", job.integration_id, outcome, exc)
        await self.service.fail_cycle(
            job, me=self.me, outcome=outcome, error=str(exc), retry_after=retry_after
        )

    def _client(self, job: PollJob) -> PollClient:
        # One client per integration between cycles (it keeps its OAuth token), rebuilt
        # when the credentials change.
        fingerprint = hashlib.sha256(
            "\x00".join((job.provider, job.base_url, job.client_id, job.secret)).encode()
        ).hexdigest()
        cached = self._clients.get(job.integration_id)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached.client
        if self._http is None:
            self._http = default_http_client(self.settings.http_timeout_seconds)
        client = client_for(
            job.provider, PollCredentials(job.base_url, job.client_id, job.secret), self._http
        )
        self._clients[job.integration_id] = _Cached(fingerprint, client)
        return client
