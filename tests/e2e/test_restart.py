"""A service killed mid-stream loses nothing: every accepted alert is routed and ticketed once."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import time
from collections import Counter

import nats
import pytest

from tests.consumer_lag import group_pending
from tests.e2e.harness import Mesh, Tenant, eventually
from tests.e2e.providers import ninja_trigger

pytestmark = pytest.mark.e2e

SERIES, REPEATS = 24, 10
TOTAL = SERIES * REPEATS
RATE = 40.0  # webhooks/s, so the stream is still flowing while each process dies and returns
SENDERS = 8
ALERT_ID = re.compile(r"alert ([0-9a-f-]{36})")


async def drained(nats_url: str, durables: tuple[str, ...]) -> bool:
    """Whether these durable consumers have nothing pending and nothing awaiting an ack."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for durable in durables:
            if await group_pending(js, "TRIAGE_ALERT", durable):
                return False
        return True
    finally:
        await nc.close()


async def test_kill_9_tickets_and_rules_mid_stream_loses_nothing(mesh: Mesh, nats_url: str) -> None:
    tenant: Tenant = await mesh.new_tenant("e2e restart")
    await tenant.catch_all_rule()
    await tenant.ticket_per_problem()
    integration = await tenant.integration("ninjaone")
    supervisor = mesh.stack.supervisor
    t0 = time.time() - 3600
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(TOTAL):
        queue.put_nowait(n)
    accepted: list[str] = []
    killed: dict[str, int] = {}
    start = time.monotonic()

    def kill(name: str) -> None:
        pid = supervisor.pid(name)
        assert pid is not None, f"{name} is not running"
        os.kill(pid, signal.SIGKILL)
        killed[name] = pid

    async def sender() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            # Paced: webhook n leaves at n / RATE seconds.
            await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))
            if n == TOTAL // 4:
                kill("tickets")
            elif n == (TOTAL * 3) // 5:
                kill("rules")
            s, r = n % SERIES, n // SERIES
            body = ninja_trigger(series=f"r{s}", device=200 + s, activity_id=n + 1, at=t0 + r)
            answer = await integration.post(body)
            assert answer.duplicates == 0
            accepted.extend(answer.alert_ids)

    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    assert len(accepted) == TOTAL == len(set(accepted))
    assert set(killed) == {"tickets", "rules"}

    # The supervisor brought both back.
    for name, old_pid in killed.items():
        await eventually(
            functools.partial(_restarted, mesh, name, old_pid),
            timeout=30,
            what=f"{name} restarted",
        )
        assert -signal.SIGKILL in supervisor.exit_codes(name)

    # Every accepted trigger became exactly one occurrence (the restarted replica reads on
    # from the positions the dead one committed, once its leases ran out: ~8 s).
    async def all_ticketed() -> list[object] | None:
        tickets = await tenant.list_tickets()
        total = sum(t.occurrence_count for t in tickets)
        assert total <= TOTAL, f"{total} occurrences for {TOTAL} triggers"
        return list(tickets) if total == TOTAL else None

    await eventually(all_ticketed, timeout=75, what="every accepted alert ticketed")
    await eventually(
        lambda: drained(nats_url, ("rules-alert-received", "tickets-alert-routed")),
        timeout=45,
        what="consumers drained",
    )
    tickets = await tenant.list_tickets()
    assert len(tickets) == SERIES
    assert sum(t.occurrence_count for t in tickets) == TOTAL
    assert all(t.occurrence_count == REPEATS for t in tickets)

    # Each alert is named once across the tickets' histories (created or occurred) ...
    named: Counter[str] = Counter()
    for ticket in tickets:
        for entry in await tenant.history(ticket.id):
            named.update(ALERT_ID.findall(entry.detail))
    assert set(named) == set(accepted)
    assert max(named.values()) == 1
    # ... and was routed by the rules service.
    routed = await asyncio.gather(*(tenant.routed(a) for a in accepted))
    assert all(routed)


async def _restarted(mesh: Mesh, name: str, old_pid: int) -> bool:
    pid = mesh.stack.supervisor.pid(name)
    return pid is not None and pid != old_pid and await mesh.serving(name)
