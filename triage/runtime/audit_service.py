"""``AuditService.ListAuditEntries`` over a service's own audit log, its retention worker,
and :func:`install_audit`, which the runtime runs for every service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from triage.audit.v1 import audit_pb2 as pb
from triage.audit.v1 import audit_pb2_grpc as pb_grpc
from triage.runtime.audit import AuditRecorder
from triage.runtime.audit_store import AuditFilter, AuditRow, list_entries, purge_before
from triage.runtime.auth import Principal, current_principal
from triage.runtime.db import Database
from triage.runtime.errors import InvalidArgument, PermissionDenied
from triage.runtime.events import from_timestamp, to_timestamp
from triage.runtime.paging import decode_page_token, encode_page_token, page_of, page_size
from triage.runtime.requests import require_uuid

if TYPE_CHECKING:
    from triage.runtime.app import Runtime

log = logging.getLogger(__name__)

SCOPE = "audit:read"
#: How often the retention worker looks for expired entries.
PURGE_EVERY = timedelta(hours=1)


class AuditServicer(pb_grpc.AuditServiceServicer):
    """Answers for the entries this service recorded."""

    def __init__(self, db: Database, service: str) -> None:
        self._db = db
        self._service = service

    async def ListAuditEntries(
        self, request: pb.ListAuditEntriesRequest, context: Any
    ) -> pb.ListAuditEntriesResponse:
        """One page of entries, newest first, of the caller's tenant (or, for an
        administrator, the named tenant or every tenant)."""
        principal = current_principal()
        principal.require(SCOPE)
        tenant = _tenant_to_list(principal, request.tenant_id)
        filters = {
            "tenant": tenant,
            "since": request.since_time.ToJsonString() if request.HasField("since_time") else "",
            "actor": request.actor,
            "target": request.target_id,
            "rpc": request.rpc,
        }
        position = decode_page_token(request.page_token, filters=filters)
        where = AuditFilter(
            tenant_id=tenant,
            since=from_timestamp(request.since_time) if request.HasField("since_time") else None,
            actor=request.actor,
            target_id=request.target_id,
            rpc=request.rpc,
            before=_position(position),
        )
        limit = page_size(request.page_size)
        if tenant is None:
            async with self._db.system_transaction() as session:
                rows = await list_entries(session, self._db.schema, where, limit + 1)
        else:
            async with self._db.transaction(tenant) as session:
                rows = await list_entries(session, self._db.schema, where, limit + 1)
        page, more = page_of(rows, limit)
        tokens = [_token(row, filters) for row in page]
        return pb.ListAuditEntriesResponse(
            entries=[self._entry(row, token) for row, token in zip(page, tokens, strict=True)],
            next_page_token=tokens[-1] if more and tokens else "",
        )

    def _entry(self, row: AuditRow, token: str) -> pb.AuditEntry:
        return pb.AuditEntry(
            id=row.id,
            tenant_id=row.tenant_id or "",
            actor=row.actor,
            rpc=row.rpc,
            target_id=row.target_id,
            request_id=row.request_id,
            code=row.code,
            request_sha256=row.request_sha256,
            time=to_timestamp(row.at),
            service=self._service,
            resume_token=token,
        )


def _tenant_to_list(principal: Principal, named: str) -> str | None:
    """The tenant whose entries the caller may list; None means every tenant (admin)."""
    if named:
        require_uuid(named, "tenant_id")
    if principal.tenant_id is not None and not principal.is_service:
        if named and named != principal.tenant_id:
            raise PermissionDenied("a tenant's token lists its own tenant's entries only")
        return principal.tenant_id
    return named or principal.tenant_id


def _position(position: dict[str, Any] | None) -> tuple[datetime, str] | None:
    if position is None:
        return None
    try:
        return datetime.fromisoformat(str(position["at"])), str(position["id"])
    except (KeyError, ValueError) as exc:
        raise InvalidArgument.field("page_token", "not a token this service issued") from exc


def _token(row: AuditRow, filters: dict[str, Any]) -> str:
    return encode_page_token({"at": row.at.isoformat(), "id": row.id}, filters=filters)


def retention_worker(
    db: Database, retention: timedelta, every: timedelta = PURGE_EVERY
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A background task that deletes entries older than ``retention``, now and then every
    ``every`` (every replica may run it: the deletes are idempotent)."""

    async def audit_retention() -> None:
        while True:
            try:
                removed = await purge_before(db, datetime.now(UTC) - retention)
                if removed:
                    log.info("audit entries expired", extra={"removed": removed})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("audit retention pass failed")
            await asyncio.sleep(every.total_seconds())

    return audit_retention


def install_audit(runtime: Runtime) -> None:
    """Record every mutating RPC the service serves, serve its audit log, expire it."""
    settings = runtime.settings
    name = settings.service_name
    runtime.grpc.audit_with(AuditRecorder(runtime.db, name))
    servicer = AuditServicer(runtime.db, name)
    runtime.add_servicer(
        partial(pb_grpc.add_AuditServiceServicer_to_server, servicer),
        [pb.DESCRIPTOR.services_by_name["AuditService"].full_name],
    )
    runtime.tasks.append(
        retention_worker(runtime.db, timedelta(days=settings.audit_retention_days))
    )
