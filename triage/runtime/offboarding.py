"""A tenant's offboarding in one service: export its rows, delete them when asked.

Every service does the same here, so it is written once. ingest (the tenant registry)
publishes ``tenant.deletion_requested`` naming one service at a time; that service deletes
the tenant's rows in bounded batches (each batch its own transaction, so a crash loses at
most one batch's work and the redelivered event carries on) and announces
``tenant.data_deleted``. Both events travel under the nil tenant and name the tenant in
their payload: nothing of the tenant is left in any outbox or inbox once it is gone.

The deletion is also published in the access bucket (:mod:`triage.runtime.access_list`)
when it is requested, again by each service's step before it deletes anything, and once it
completes: every replica of every service refuses the tenant's calls, and services' calls
acting for it, from then on without asking anyone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import DBAPIError

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime import tombstones
from triage.runtime.access_list import announce_deletion, publish_deletion
from triage.runtime.auth import ADMIN_SCOPE, current_principal
from triage.runtime.bus import Bus
from triage.runtime.consumer import BatchConsumer
from triage.runtime.db import Database
from triage.runtime.deletion_keys import DeletionKeys
from triage.runtime.errors import NotFound, PermissionDenied, Unavailable
from triage.runtime.events import ReceivedEvent, new_envelope, to_timestamp, unpack
from triage.runtime.outbox import Outbox
from triage.runtime.requests import require_uuid
from triage.runtime.tenant_data import TenantData
from triage.tenancy.v1 import offboarding_pb2 as pb
from triage.tenancy.v1 import offboarding_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from triage.runtime.app import Runtime

DELETION_REQUESTED = "tenant.deletion_requested"
DATA_DELETED = "tenant.data_deleted"
DELETION_REQUESTED_SUBJECT = "triage.tenant.deletion_requested.>"
DATA_DELETED_SUBJECT = "triage.tenant.data_deleted.>"
#: The envelope tenant of offboarding events (the tenant itself is in the payload).
NIL_TENANT = "00000000-0000-0000-0000-000000000000"
#: The scope that lets a tenant's own token export that tenant.
TENANT_ADMIN_SCOPE = "tenant:admin"
TENANT_DATA_SERVICE = "triage.tenancy.v1.TenantDataService"
OFFBOARDING_SERVICE = "triage.tenancy.v1.OffboardingService"
#: Receives each ``tenant.data_deleted``: (tenant id, service, rows deleted).
Reported = Callable[[str, str, int], Awaitable[None]]
#: Publishes a tenant's deletion to every replica: (tenant id, completed).
Announce = Callable[[str, bool], Awaitable[None]]


def deletion_requested(tenant_id: str, service: str, *, producer: str) -> Envelope:
    """``tenant.deletion_requested`` asking ``service`` to delete ``tenant_id``'s rows."""
    return new_envelope(
        tenant_id=NIL_TENANT,
        event_type=DELETION_REQUESTED,
        payload=pb.TenantDeletionRequested(tenant_id=tenant_id, service=service),
        producer=producer,
        ordering_key=tenant_id,
    )


def data_deleted(tenant_id: str, service: str, rows: int) -> Envelope:
    """``tenant.data_deleted``: ``service`` holds nothing of ``tenant_id`` any more."""
    return new_envelope(
        tenant_id=NIL_TENANT,
        event_type=DATA_DELETED,
        payload=pb.TenantDataDeleted(tenant_id=tenant_id, service=service, rows_deleted=rows),
        producer=service,
        ordering_key=tenant_id,
    )


def exportable_tenant(tenant_id: str) -> str:
    """The tenant an export may read: any for ``admin``, its own for ``tenant:admin``;
    another tenant is NOT_FOUND, as everywhere."""
    require_uuid(tenant_id, "tenant_id")
    principal = current_principal()
    if ADMIN_SCOPE in principal.scopes or principal.is_service:
        return tenant_id
    if principal.tenant_id != tenant_id:
        raise NotFound(f"tenant {tenant_id} not found")
    if TENANT_ADMIN_SCOPE not in principal.scopes:
        raise PermissionDenied(f"missing scope {TENANT_ADMIN_SCOPE!r}")
    return tenant_id


class TenantOffboarding:
    """One service's part: export and delete a tenant's rows."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        data: TenantData,
        service: str,
        batch_size: int = 500,
        relay_wait_seconds: float = 30.0,
        forget: Callable[[str], None] | None = None,
        announce: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        """Keep the collaborators; ``batch_size`` bounds each delete transaction;
        ``forget(tenant_id)`` drops this process's cached standing of a tenant it buries;
        ``announce(tenant_id)`` tells every replica the tenant is being deleted."""
        self.db = db
        self.outbox = outbox
        self.data = data
        self.service = service
        self.batch_size = batch_size
        self.relay_wait_seconds = relay_wait_seconds
        self.forget = forget
        self.announce = announce

    async def buried(self) -> dict[str, bool]:
        """The tenants this service deleted or is deleting, as a :class:`DeletionKeys` source
        (a tombstone cannot tell whether the whole deletion completed: False)."""
        async with self.db.system_transaction() as session:
            found = await tombstones.buried(session, schema=self.db.schema)
        return dict.fromkeys(found, False)

    async def export(self, tenant_id: str) -> AsyncIterator[tuple[str, str]]:
        """Every row of the tenant as (table, JSON), read under its own row security."""
        async with self.db.transaction(tenant_id) as session:
            async for item in self.data.export(session, tenant_id):
                yield item

    async def bury(self, tenant_id: str) -> None:
        """Tombstone the tenant here, then wait for the batches that claimed its events
        before (bounded): from now on its events are dropped and its rows stay deleted."""
        schema = self.db.schema
        if self.announce is not None:
            # Again (ingest did on the request): a publish lost there must not let the other
            # replicas admit the tenant's writes once its rows here are gone.
            await self.announce(tenant_id)
        try:
            async with self.db.system_transaction() as session:
                await tombstones.bury(
                    session,
                    schema=schema,
                    tenant_id=tenant_id,
                    timeout_seconds=self.relay_wait_seconds,
                )
        except DBAPIError as exc:
            raise Unavailable(f"transactions of tenant {tenant_id} still open") from exc
        if self.forget is not None:
            # A cached "active" would admit the tenant's calls, and their writes, for seconds.
            self.forget(tenant_id)
        try:
            async with self.db.system_transaction() as session:
                await tombstones.settle_claims(
                    session, schema=schema, timeout_seconds=self.relay_wait_seconds
                )
        except DBAPIError as exc:
            raise Unavailable(f"batches of {schema} still hold its inbox") from exc

    async def delete(self, tenant_id: str) -> int:
        """Delete every row of the tenant, a bounded batch per transaction; the count.

        The tenant is tombstoned first (:meth:`bury`). Rows the relay has yet to publish are
        waited for (bounded), then deleted too.
        """
        await self.bury(tenant_id)
        total = 0
        deadline = time.monotonic() + self.relay_wait_seconds
        while True:
            async with self.db.system_transaction() as session:
                deleted = await self.data.delete_batch(session, tenant_id, self.batch_size)
            total += deleted
            if deleted:
                continue
            async with self.db.system_transaction() as session:
                left = await self.data.remaining(session, tenant_id)
            if not left:
                return total
            if time.monotonic() > deadline:
                raise Unavailable(f"rows of tenant {tenant_id} still queued: {left}")
            self.outbox.wake()
            await asyncio.sleep(0.05)

    async def on_requested(self, event: ReceivedEvent) -> None:
        """Handle one ``tenant.deletion_requested``: when it names this service, delete and
        announce it (idempotent: a redelivery deletes nothing more and announces again)."""
        asked = unpack(event.envelope, pb.TenantDeletionRequested)
        if asked.service != self.service:
            return
        rows = await self.delete(asked.tenant_id)
        async with self.db.system_transaction() as session:
            await self.outbox.add(session, data_deleted(asked.tenant_id, self.service, rows))


def deletion_consumer(bus: Bus, offboarding: TenantOffboarding) -> BatchConsumer:
    """The durable consumer of ``tenant.deletion_requested`` for ``offboarding``'s service."""

    async def handle(events: Sequence[ReceivedEvent]) -> None:
        for event in events:
            await offboarding.on_requested(event)

    return BatchConsumer(
        bus,
        offboarding.db,
        service=offboarding.service,
        durable=f"{offboarding.service}-tenant-deletion",
        filter_subjects=[DELETION_REQUESTED_SUBJECT],
        handler=handle,
        batch_size=16,
    )


class TenantDataApi(pb_grpc.TenantDataServiceServicer):
    """``TenantDataService``: the export of one service's rows of a tenant."""

    def __init__(self, offboarding: TenantOffboarding) -> None:
        """Serve ``offboarding``'s export."""
        self._offboarding = offboarding

    async def ExportTenantData(
        self, request: pb.ExportTenantDataRequest, context: Any
    ) -> AsyncIterator[pb.ExportTenantDataResponse]:
        """Stream every row of the tenant, secrets left out."""
        tenant_id = exportable_tenant(request.tenant_id)
        async for table, record in self._offboarding.export(tenant_id):
            yield pb.ExportTenantDataResponse(table=table, record_json=record)


def offboard(rt: Runtime, data: TenantData) -> TenantOffboarding:
    """Give ``rt``'s service its export RPC and its deletion consumer over ``data``."""
    authority = rt.authority

    def forget(tenant_id: str) -> None:
        if authority.tenant_gate is not None:
            authority.tenant_gate.forget(tenant_id)

    js = rt.bus.js

    async def announce(tenant_id: str) -> None:
        await announce_deletion(js, tenant_id)

    offboarding = TenantOffboarding(
        db=rt.db,
        outbox=rt.outbox,
        data=data,
        service=rt.settings.service_name,
        forget=forget,
        announce=announce,
    )
    api = TenantDataApi(offboarding)
    rt.add_servicer(
        partial(pb_grpc.add_TenantDataServiceServicer_to_server, api), [TENANT_DATA_SERVICE]
    )
    rt.consumers.append(deletion_consumer(rt.bus, offboarding))
    rt.tasks.append(DeletionKeys(js=js, access=authority.access, source=offboarding.buried).run)
    return offboarding


class DeletionRecord(Protocol):
    """What the registry tells of one deletion."""

    @property
    def tenant_id(self) -> str:
        """The tenant."""
        ...

    @property
    def current_service(self) -> str | None:
        """The service now deleting; None once completed."""
        ...

    @property
    def rows_deleted(self) -> dict[str, int]:
        """Rows each finished service deleted."""
        ...

    @property
    def requested_at(self) -> datetime:
        """When it was requested."""
        ...

    @property
    def completed_at(self) -> datetime | None:
        """When it completed."""
        ...


class DeletionRegistry(Protocol):
    """The registry's deletion use cases (ingest)."""

    async def request(self, tenant_id: str) -> DeletionRecord:
        """Start or resume a deletion."""
        ...

    async def status(self, tenant_id: str) -> DeletionRecord:
        """Where a deletion stands."""
        ...

    async def requested(self) -> dict[str, bool]:
        """Every tenant whose deletion was requested: whether it completed."""
        ...


def deletion_to_proto(record: DeletionRecord, order: Sequence[str]) -> pb.TenantDeletion:
    """The wire form of a deletion record; ``order`` names every service in turn."""
    message = pb.TenantDeletion(
        tenant_id=record.tenant_id,
        state=(
            pb.DELETION_STATE_COMPLETED
            if record.completed_at is not None
            else pb.DELETION_STATE_IN_PROGRESS
        ),
        current_service=record.current_service or "",
        services=[
            pb.ServiceProgress(
                service=name,
                done=name in record.rows_deleted,
                rows_deleted=record.rows_deleted.get(name, 0),
            )
            for name in order
        ],
        create_time=to_timestamp(record.requested_at),
    )
    if record.completed_at is not None:
        message.complete_time.CopyFrom(to_timestamp(record.completed_at))
    return message


class OffboardingApi(pb_grpc.OffboardingServiceServicer):
    """``OffboardingService``: start, resume and follow a tenant's deletion (admin)."""

    def __init__(
        self, registry: DeletionRegistry, order: Sequence[str], announce: Announce | None = None
    ) -> None:
        """Serve ``registry``'s deletions, which visit the services in ``order``;
        ``announce(tenant_id, completed)`` publishes a requested deletion to every replica."""
        self._registry = registry
        self._order = order
        self._announce = announce

    async def DeleteTenant(
        self, request: pb.DeleteTenantRequest, context: Any
    ) -> pb.DeleteTenantResponse:
        """Start deleting the tenant, or resume its deletion."""
        current_principal().require(ADMIN_SCOPE)
        tenant_id = require_uuid(request.tenant_id, "tenant_id")
        record = await self._registry.request(tenant_id)
        if self._announce is not None:
            # After the commit; a lost publish is repeated by each service's deletion step.
            await self._announce(tenant_id, record.completed_at is not None)
        return pb.DeleteTenantResponse(deletion=deletion_to_proto(record, self._order))

    async def GetTenantDeletion(
        self, request: pb.GetTenantDeletionRequest, context: Any
    ) -> pb.GetTenantDeletionResponse:
        """Where the tenant's deletion stands."""
        current_principal().require(ADMIN_SCOPE)
        tenant_id = require_uuid(request.tenant_id, "tenant_id")
        record = await self._registry.status(tenant_id)
        return pb.GetTenantDeletionResponse(deletion=deletion_to_proto(record, self._order))


async def announce_completion(
    registry: DeletionRegistry, announce: Announce, tenant_id: str
) -> None:
    """Publish the tenant as deleted once its deletion has completed (a report of an
    unknown deletion publishes nothing)."""
    try:
        record = await registry.status(tenant_id)
    except NotFound:
        return
    if record.completed_at is not None:
        await announce(tenant_id, True)


def coordinate_deletions(
    rt: Runtime, registry: DeletionRegistry, on_deleted: Reported, order: Sequence[str]
) -> None:
    """Serve ``OffboardingService`` over ``registry`` (deleting in ``order``) and feed
    every ``tenant.data_deleted`` to ``on_deleted(tenant_id, service, rows)``; requested
    and completed deletions are published to every replica (the access bucket)."""
    js = rt.bus.js

    async def announce(tenant_id: str, completed: bool) -> None:
        await publish_deletion(js, tenant_id, completed=completed)

    api = OffboardingApi(registry, order, announce)
    # The registry's records give each deletion's exact state (and predate the keys).
    restore = DeletionKeys(js=js, access=rt.authority.access, source=registry.requested)
    rt.tasks.append(restore.run)
    rt.add_servicer(
        partial(pb_grpc.add_OffboardingServiceServicer_to_server, api),
        [OFFBOARDING_SERVICE],
    )

    async def handle(events: Sequence[ReceivedEvent]) -> None:
        for event in events:
            done = unpack(event.envelope, pb.TenantDataDeleted)
            await on_deleted(done.tenant_id, done.service, done.rows_deleted)
            await announce_completion(registry, announce, done.tenant_id)

    rt.consumers.append(
        BatchConsumer(
            rt.bus,
            rt.db,
            service=rt.settings.service_name,
            durable=f"{rt.settings.service_name}-tenant-data-deleted",
            filter_subjects=[DATA_DELETED_SUBJECT],
            handler=handle,
            batch_size=16,
        )
    )
