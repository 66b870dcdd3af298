"""Benchmarks for ``make bench``: business-time math, and timer firing at scale.

``timer_bench`` runs N clocks whose breach instants are spread over a window in virtual
time (``ScaledTime``: ``speed`` virtual seconds per real second), so 100,000 clocks over an
hour can be measured in a minute. Lateness is reported in real seconds (virtual lateness
divided by ``speed``): what a real deployment would see if it sustained this firing rate.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from services.sla import models
from services.sla.domain.calendar import BusinessCalendar, HolidaySet
from services.sla.domain.calendar_spec import default_calendar
from services.sla.domain.clock import Clock, TargetKind
from services.sla.domain.policy import (
    PolicySpec,
    ScopeKind,
    Snapshot,
    Target,
    Targets,
    ThresholdRule,
)
from services.sla.domain.ticket import ClockRecord
from services.sla.models import SCHEMA, outbox, tickets
from services.sla.service import SlaService
from services.sla.store.clocks import save_clocks
from services.sla.store.timers import set_timers
from services.sla.workers.timers import Scheduler
from triage.runtime import Database, Outbox, upgrade, wait_event

START = datetime(2026, 1, 5, 12, tzinfo=UTC)


class ScaledTime:
    """Virtual time running ``speed`` times faster than real time (for the benchmark)."""

    def __init__(self, start: datetime, speed: float) -> None:
        self._start = start.astimezone(UTC)
        self._real = time.monotonic()
        self.speed = speed

    def now(self) -> datetime:
        """The virtual instant."""
        return self._start + timedelta(seconds=(time.monotonic() - self._real) * self.speed)

    def real_seconds(self, virtual: timedelta) -> float:
        """A virtual span in real seconds."""
        return virtual.total_seconds() / self.speed

    async def sleep_until(self, instant: datetime | None, wake: asyncio.Event, idle: float) -> None:
        """Sleep (in real time) until the virtual ``instant``, a wake-up, or ``idle``."""
        seconds = idle
        if instant is not None:
            seconds = min(idle, self.real_seconds(instant - self.now()))
        await wait_event(wake, seconds)


def business_time_ops(n: int = 20_000, *, seed: int = 7) -> dict[str, float]:
    """Operations per second of ``add_business_time`` and ``business_time_between`` on an
    office calendar (New York, Mon-Fri 09-17, US holidays), over random instants and spans."""
    calendar = BusinessCalendar.weekly(
        "America/New_York",
        dict.fromkeys(range(5), ("09:00-17:00",)),
        holiday_sets=[HolidaySet("US")],
    )
    rng = random.Random(seed)
    starts = [START + timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(n)]
    spans = [timedelta(minutes=rng.randrange(1, 5 * 8 * 60)) for _ in range(n)]
    calendar.add_business_time(starts[0], spans[0])
    began = time.perf_counter()
    ends = [calendar.add_business_time(s, d) for s, d in zip(starts, spans, strict=True)]
    add_rate = n / (time.perf_counter() - began)
    began = time.perf_counter()
    for s, e in zip(starts, ends, strict=True):
        calendar.business_time_between(s, e)
    between_rate = n / (time.perf_counter() - began)
    return {"add_business_time_per_s": add_rate, "business_time_between_per_s": between_rate}


async def _seed(db: Database, *, clocks: int, window: timedelta, target: timedelta) -> None:
    policy = PolicySpec(
        id="",
        name="bench",
        scope=ScopeKind.TENANT_DEFAULT,
        targets=(Targets(3, None, Target(target, business_time=False)),),
        thresholds=(ThresholdRule(100),),
    )
    snapshot = Snapshot(policy, default_calendar("UTC"))
    tenant_id = str(uuid.uuid4())
    step = window / max(1, clocks)
    chunk = 5_000
    for first in range(0, clocks, chunk):
        ticket_rows: list[dict[str, Any]] = []
        records: list[tuple[str, ClockRecord]] = []
        for i in range(first, min(clocks, first + chunk)):
            ticket_id = str(uuid.uuid4())
            started = START + step * i - target
            ticket_rows.append(
                {
                    "tenant_id": tenant_id,
                    "ticket_id": ticket_id,
                    "number": i + 1,
                    "title": f"bench {i}",
                    "priority": 3,
                    "status": 2,
                    "opened_at": started,
                    "ticket_updated_at": started,
                    "policy_snapshot": policy.to_json(),
                    "calendar_snapshot": snapshot.calendar.to_json(),
                }
            )
            clock = Clock.start(
                kind=TargetKind.RESOLUTION,
                target=target,
                calendar=snapshot.business,
                at=started,
                business_time=False,
                thresholds=(100,),
            )
            records.append((tenant_id, ClockRecord(ticket_id=ticket_id, clock=clock, fence=1)))
        async with db.system_transaction() as session:
            await session.execute(insert(tickets), ticket_rows)
            await save_clocks(session, records=records)
            await set_timers(session, records=records)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timer_bench(
    database_url: str,
    *,
    clocks: int = 100_000,
    window: timedelta = timedelta(hours=1),
    speed: float = 60.0,
    replicas: int = 2,
    batch_size: int = 500,
    timeout_seconds: float = 600.0,
) -> dict[str, float]:
    """Fire ``clocks`` breaches spread over ``window`` (virtual) with ``replicas`` schedulers.

    ``database_url`` must point at an empty database. Returns fires per real second and the
    real-time lateness p50/p99/max, plus how long seeding took.
    """
    upgrade(
        database_url,
        schema=SCHEMA,
        script_location=str(Path(models.__file__).parent / "migrations"),
    )
    began = time.perf_counter()
    seed_db = Database(database_url, schema=SCHEMA, pool_size=2)
    try:
        await _seed(seed_db, clocks=clocks, window=window, target=timedelta(hours=4))
    finally:
        await seed_db.dispose()
    seeded = time.perf_counter() - began
    clock = ScaledTime(START - timedelta(seconds=1), speed)
    databases = [Database(database_url, schema=SCHEMA, pool_size=2) for _ in range(replicas)]
    schedulers: list[Scheduler] = []
    for db in databases:
        service = SlaService(db=db, outbox=Outbox(outbox), time=clock)
        scheduler = Scheduler(service, batch_size=batch_size, idle_recheck_seconds=0.2)
        scheduler.record_lateness = True
        schedulers.append(scheduler)
    tasks = [asyncio.create_task(s.run()) for s in schedulers]
    began = time.perf_counter()
    try:
        deadline = began + timeout_seconds
        while True:
            if sum(s.fired for s in schedulers) >= clocks or time.perf_counter() >= deadline:
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - began
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for db in databases:
            await db.dispose()
    lateness = [v / speed for s in schedulers for v in s.lateness]
    fired = sum(s.fired for s in schedulers)
    return {
        "clocks": float(clocks),
        "fired": float(fired),
        "seed_seconds": seeded,
        "run_seconds": elapsed,
        "demand_per_s": clocks / max(1e-9, window.total_seconds() / speed),
        "fires_per_s": fired / max(1e-9, elapsed),
        "lateness_p50_s": statistics.median(lateness) if lateness else 0.0,
        "lateness_p99_s": _percentile(lateness, 0.99),
        "lateness_max_s": max(lateness, default=0.0),
    }
