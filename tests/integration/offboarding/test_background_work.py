"""Background work stops for a tenant being deleted: its SLA timers do not fire and its
deliveries are not sent (either would write rows, and events, of a tenant on its way out),
as the services wire them (the access list's ``barred_now``); other tenants' work goes on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.sla.workers.timers import Scheduler
from tests.integration.notify.conftest import free_port
from tests.integration.notify.flows import SECRET, webhook_channel
from tests.integration.notify.harness import Harness, poll
from tests.integration.notify.receivers import HttpReceiver
from tests.integration.notify.test_isolation import _queue, _status
from tests.integration.sla.harness import T0, Sla, TicketMaker
from tests.integration.sla.test_timers import calendar_time_policy
from triage.runtime.access_list import DELETED, DELETED_STATE, DELETING_STATE, AccessList
from triage.sla.v1 import events_pb2 as sev

pytestmark = pytest.mark.integration


@pytest.fixture
async def sla(fresh_db: str, nats_url: str) -> AsyncIterator[Sla]:
    """An sla instance with a controllable clock."""
    instance = await Sla.start(fresh_db, nats_url)
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
async def notify(fresh_db: str, nats_url: str) -> AsyncIterator[Harness]:
    """A notify instance with its delivery worker."""
    started = await Harness.start(fresh_db, nats_url)
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """A webhook receiver that counts what it got."""
    made = HttpReceiver(free_port(), secret=SECRET).start()
    try:
        yield made
    finally:
        made.stop()


@pytest.mark.parametrize("state", [DELETING_STATE, DELETED_STATE])
async def test_a_deleted_tenants_timers_do_not_fire(sla: Sla, state: str) -> None:
    gone, kept = str(uuid.uuid4()), str(uuid.uuid4())
    for tenant in (gone, kept):
        await calendar_time_policy(sla, tenant, timedelta(hours=1), timedelta(hours=4), 50)
    theirs, other = TicketMaker.new(gone, at=T0), TicketMaker.new(kept, at=T0)
    await sla.send(theirs.opened(), other.opened())
    access = AccessList()
    access.apply(f"{DELETED}{gone}", state.encode())
    scheduler = Scheduler(sla.service, paused=access.barred_now)

    sla.manual.set(T0 + timedelta(minutes=40))
    assert (await scheduler.run_once()).fired == 1  # the other tenant's only
    assert (await scheduler.run_once()).fired == 0
    (fired,) = await sla.emitted("sla.threshold", sev.SlaThreshold)
    assert fired.ticket.ticket_id == other.id
    # Nothing of the deleted tenant is due for the scheduler to spin on.
    assert await sla.service.next_due(access.barred_now()) == T0 + timedelta(hours=1)


async def test_a_deleted_tenants_deliveries_are_not_sent(
    notify: Harness, receiver: HttpReceiver
) -> None:
    access = AccessList()
    notify.notify.worker.claims.paused = access.barred_now
    channel = await webhook_channel(notify, receiver.url)
    first = await _queue(notify, notify.tenant_id, channel.id, datetime.now(UTC))

    async def sent() -> bool:
        return await _status(notify, first) == "delivered"

    await poll(sent)
    access.apply(f"{DELETED}{notify.tenant_id}", DELETING_STATE.encode())
    held = await _queue(notify, notify.tenant_id, channel.id, datetime.now(UTC))
    # The worker was woken for it (the commit) and passes over it, now and after a pass.
    await notify.notify.worker.pump()
    assert await _status(notify, held) == "queued"
    assert receiver.count() == 1
