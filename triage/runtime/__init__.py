"""The runtime every service is built on: its public surface.

Services import from here only (``from triage.runtime import Database, BatchConsumer``); the
modules behind it are the runtime's own. Names load on first use, so a command that needs
one helper does not pay for the gRPC server, the bus and the database driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triage.runtime.access_list import DELETED_STATE, AccessList, AccessPublisher
    from triage.runtime.app import Runtime
    from triage.runtime.auth import ADMIN_SCOPE, Principal, TokenAuthority, current_principal
    from triage.runtime.bus import Bus
    from triage.runtime.config import Peers, Settings
    from triage.runtime.consume import claimed_batch, each_event, event_span, transactional_handler
    from triage.runtime.consumer import BatchConsumer, BatchHandler
    from triage.runtime.db import (
        Database,
        DedicatedConnection,
        after_commit,
        bind_tenant,
        bind_tenants,
        fetch_together,
        pipelined,
        raw_cursor,
        select_list,
    )
    from triage.runtime.errors import (
        ERROR_DOMAIN,
        Aborted,
        AlreadyExists,
        FailedPrecondition,
        FieldViolation,
        InvalidArgument,
        NotFound,
        PermissionDenied,
        ResourceExhausted,
        TriageError,
        Unauthenticated,
        Unavailable,
    )
    from triage.runtime.events import (
        ReceivedEvent,
        envelope_subject,
        from_timestamp,
        new_envelope,
        subject_for,
        to_timestamp,
        unpack,
    )
    from triage.runtime.fence import BatchFence, FenceChecking, Fenced, current_fence
    from triage.runtime.idempotency import (
        IdempotentReply,
        RequestLog,
        built_reply,
        once,
        requests_table,
    )
    from triage.runtime.ids import new_id
    from triage.runtime.main import service_main
    from triage.runtime.migrations import (
        create_audit_log,
        create_consumer_leases,
        run_env,
        tenant_rls_sql,
        upgrade,
        upgrade_outbox_to_pending,
    )
    from triage.runtime.offboarding import (
        TenantOffboarding,
        coordinate_deletions,
        deletion_requested,
        offboard,
    )
    from triage.runtime.outbox import (
        CommittedEvent,
        Inbox,
        Outbox,
        inbox_table,
        outbox_pending_table,
        outbox_table,
    )
    from triage.runtime.paging import decode_page_token, encode_page_token, page_of, page_size
    from triage.runtime.peers import peer_directory
    from triage.runtime.references import Reference, References, require_references
    from triage.runtime.requests import Caller, caller, check_etag, is_uuid, require_uuid
    from triage.runtime.sandbox import BoundedEnvironment, BoundedText, Limits, render_bounded
    from triage.runtime.secrets import SecretBox
    from triage.runtime.spec import ServiceSpec
    from triage.runtime.telemetry import extract_context, inject_headers
    from triage.runtime.tenant_data import TenantData
    from triage.runtime.tenant_gate import Lookup, TenantGate, TenantStanding, guard_tenants
    from triage.runtime.tombstones import GROUP_ADMIT, group_admission_ddl
    from triage.runtime.waiting import wait_event

_HOME: dict[str, str] = {
    "DELETED_STATE": "access_list",
    "AccessList": "access_list",
    "AccessPublisher": "access_list",
    "Runtime": "app",
    "ADMIN_SCOPE": "auth",
    "Principal": "auth",
    "TokenAuthority": "auth",
    "current_principal": "auth",
    "Bus": "bus",
    "Peers": "config",
    "Settings": "config",
    "claimed_batch": "consume",
    "each_event": "consume",
    "event_span": "consume",
    "transactional_handler": "consume",
    "BatchConsumer": "consumer",
    "BatchHandler": "consumer",
    "Database": "db",
    "DedicatedConnection": "db",
    "after_commit": "db",
    "bind_tenant": "db",
    "bind_tenants": "db",
    "fetch_together": "db",
    "pipelined": "db",
    "raw_cursor": "db",
    "select_list": "db",
    "GROUP_ADMIT": "tombstones",
    "group_admission_ddl": "tombstones",
    "BatchFence": "fence",
    "FenceChecking": "fence",
    "Fenced": "fence",
    "current_fence": "fence",
    "Aborted": "errors",
    "AlreadyExists": "errors",
    "ERROR_DOMAIN": "errors",
    "FailedPrecondition": "errors",
    "FieldViolation": "errors",
    "InvalidArgument": "errors",
    "NotFound": "errors",
    "PermissionDenied": "errors",
    "ResourceExhausted": "errors",
    "TriageError": "errors",
    "Unauthenticated": "errors",
    "Unavailable": "errors",
    "ReceivedEvent": "events",
    "envelope_subject": "events",
    "from_timestamp": "events",
    "new_envelope": "events",
    "subject_for": "events",
    "to_timestamp": "events",
    "unpack": "events",
    "IdempotentReply": "idempotency",
    "RequestLog": "idempotency",
    "built_reply": "idempotency",
    "once": "idempotency",
    "requests_table": "idempotency",
    "new_id": "ids",
    "service_main": "main",
    "create_audit_log": "migrations",
    "create_consumer_leases": "migrations",
    "run_env": "migrations",
    "tenant_rls_sql": "migrations",
    "upgrade": "migrations",
    "upgrade_outbox_to_pending": "migrations",
    "CommittedEvent": "outbox",
    "Inbox": "outbox",
    "Outbox": "outbox",
    "inbox_table": "outbox",
    "outbox_pending_table": "outbox",
    "outbox_table": "outbox",
    "decode_page_token": "paging",
    "encode_page_token": "paging",
    "page_of": "paging",
    "page_size": "paging",
    "peer_directory": "peers",
    "Reference": "references",
    "References": "references",
    "require_references": "references",
    "Caller": "requests",
    "caller": "requests",
    "check_etag": "requests",
    "is_uuid": "requests",
    "require_uuid": "requests",
    "BoundedEnvironment": "sandbox",
    "BoundedText": "sandbox",
    "Limits": "sandbox",
    "render_bounded": "sandbox",
    "SecretBox": "secrets",
    "ServiceSpec": "spec",
    "extract_context": "telemetry",
    "inject_headers": "telemetry",
    "TenantData": "tenant_data",
    "TenantOffboarding": "offboarding",
    "deletion_requested": "offboarding",
    "offboard": "offboarding",
    "coordinate_deletions": "offboarding",
    "Lookup": "tenant_gate",
    "TenantGate": "tenant_gate",
    "TenantStanding": "tenant_gate",
    "guard_tenants": "tenant_gate",
    "wait_event": "waiting",
}

__all__ = [
    "ADMIN_SCOPE",
    "DELETED_STATE",
    "ERROR_DOMAIN",
    "GROUP_ADMIT",
    "Aborted",
    "AccessList",
    "AccessPublisher",
    "AlreadyExists",
    "BatchConsumer",
    "BatchFence",
    "BatchHandler",
    "BoundedEnvironment",
    "BoundedText",
    "Bus",
    "Caller",
    "CommittedEvent",
    "Database",
    "DedicatedConnection",
    "FailedPrecondition",
    "FenceChecking",
    "Fenced",
    "FieldViolation",
    "IdempotentReply",
    "Inbox",
    "InvalidArgument",
    "Limits",
    "Lookup",
    "NotFound",
    "Outbox",
    "Peers",
    "PermissionDenied",
    "Principal",
    "ReceivedEvent",
    "Reference",
    "References",
    "RequestLog",
    "ResourceExhausted",
    "Runtime",
    "SecretBox",
    "ServiceSpec",
    "Settings",
    "TenantData",
    "TenantGate",
    "TenantOffboarding",
    "TenantStanding",
    "TokenAuthority",
    "TriageError",
    "Unauthenticated",
    "Unavailable",
    "after_commit",
    "bind_tenant",
    "bind_tenants",
    "built_reply",
    "caller",
    "check_etag",
    "claimed_batch",
    "coordinate_deletions",
    "create_audit_log",
    "create_consumer_leases",
    "current_fence",
    "current_principal",
    "decode_page_token",
    "deletion_requested",
    "each_event",
    "encode_page_token",
    "envelope_subject",
    "event_span",
    "extract_context",
    "fetch_together",
    "from_timestamp",
    "group_admission_ddl",
    "guard_tenants",
    "inbox_table",
    "inject_headers",
    "is_uuid",
    "new_envelope",
    "new_id",
    "offboard",
    "once",
    "outbox_pending_table",
    "outbox_table",
    "page_of",
    "page_size",
    "peer_directory",
    "pipelined",
    "raw_cursor",
    "render_bounded",
    "requests_table",
    "require_references",
    "require_uuid",
    "run_env",
    "select_list",
    "service_main",
    "subject_for",
    "tenant_rls_sql",
    "to_timestamp",
    "transactional_handler",
    "unpack",
    "upgrade",
    "upgrade_outbox_to_pending",
    "wait_event",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
