"""Records every mutating RPC a service serves in its own ``audit_log`` (see DECISIONS.md).

The server interceptor calls :meth:`AuditRecorder.record` after the handler returned or
failed and before the answer leaves, so an entry is stored before the caller learns the
outcome. The entry keeps a digest of the request, never the request.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from triage.runtime.audit_rules import (
    is_mutating,
    request_id_of,
    request_sha256,
    target_of,
    tenant_named,
)
from triage.runtime.audit_store import AuditRow, insert_entry
from triage.runtime.auth import Principal
from triage.runtime.db import Database
from triage.runtime.ids import new_id
from triage.runtime.requests import is_uuid

log = logging.getLogger(__name__)

AUDIT_WRITE_FAILURES = Counter(
    "triage_audit_write_failures_total",
    "Audit entries that could not be stored (each is logged at ERROR instead)",
    ["service"],
)


class AuditRecorder:
    """Builds and stores the audit entry of one served call."""

    def __init__(self, db: Database, service: str) -> None:
        self._db = db
        self._service = service

    @staticmethod
    def wants(method: str) -> bool:
        """Whether calls of ``method`` are recorded (every RPC that is not a read)."""
        return is_mutating(method)

    async def record(
        self,
        *,
        method: str,
        principal: Principal,
        request: Any,
        response: Any,
        code: str,
    ) -> None:
        """Store the entry of one call; never raises (a failure is counted and logged with
        the entry's fields, so the record survives in the logs)."""
        row: AuditRow | None = None
        try:
            row = entry_for(method, principal, request, response, code)
            await insert_entry(self._db, row)
        except Exception:
            AUDIT_WRITE_FAILURES.labels(self._service).inc()
            fields = {} if row is None else {f"audit_{k}": str(v) for k, v in asdict(row).items()}
            log.exception("audit entry not stored", extra={"method": method, **fields})


def entry_for(
    method: str, principal: Principal, request: Any, response: Any, code: str
) -> AuditRow:
    """The audit row of one call: the caller's tenant, or the tenant an administrator's
    call named (kept only if it is a UUID)."""
    named = principal.tenant_id or tenant_named(request, response)
    tenant = named if named and is_uuid(named) else None
    target = target_of(method, request, response, tenant or "")
    if tenant is not None and target == tenant and _deletes(method):
        # Deleting the tenant erases its rows: the record of who did it must outlive them.
        tenant = None
    return AuditRow(
        id=new_id(),
        tenant_id=tenant,
        actor=principal.subject[:256],
        rpc=method,
        target_id=target,
        request_id=request_id_of(request),
        code=code,
        request_sha256=request_sha256(request),
        at=datetime.now(UTC),
    )


def _deletes(method: str) -> bool:
    return method.rsplit("/", 1)[-1].startswith("Delete")
