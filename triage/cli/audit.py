"""``triage audit list``: who changed what, merged from the five services' audit logs.

Each service keeps its own entries; the command asks every one for a page, merges them
newest first, and hands back one cursor that remembers where each service stopped.
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from triage.audit.v1 import audit_pb2 as pb
from triage.audit.v1 import audit_pb2_grpc as pb_grpc
from triage.cli.common import CliContext, CliError, emit, parse_duration, short_time, to_dict
from triage.mesh import SERVICE_NAMES

STUB = pb_grpc.AuditServiceStub
RPCS = {"audit list": ("triage.audit.v1.AuditService.ListAuditEntries",)}

#: Where each service stands: its next page token ("" at the start), None when exhausted.
Cursor = dict[str, str | None]
Page = tuple[Sequence[pb.AuditEntry], str]


def encode_cursor(cursor: Cursor) -> str:
    """The composite cursor as one opaque string ("" when every service is exhausted)."""
    if all(token is None for token in cursor.values()):
        return ""
    raw = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, services: Sequence[str]) -> Cursor:
    """The composite cursor ``text`` (empty: start every service from its newest entry)."""
    if not text:
        return dict.fromkeys(services, "")
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError as exc:
        raise CliError("bad --cursor: pass the value a previous page printed", code=2) from exc
    if not isinstance(data, dict) or set(data) != set(services):
        raise CliError("bad --cursor: it was printed for other services or filters", code=2)
    return {str(k): None if v is None else str(v) for k, v in data.items()}


def merge(
    pages: Mapping[str, Page], cursor: Cursor, limit: int
) -> tuple[list[pb.AuditEntry], Cursor]:
    """The newest ``limit`` entries of the services' pages, and where each service stands
    after them: right after its last shown entry, unchanged if none of its entries was
    shown, exhausted once its last page was shown whole."""
    tagged = [(service, e) for service, (entries, _) in pages.items() for e in entries]
    tagged.sort(
        key=lambda pair: (pair[1].time.seconds, pair[1].time.nanos, pair[1].id), reverse=True
    )
    shown = tagged[:limit]
    after = dict(cursor)
    for service, (entries, next_token) in pages.items():
        mine = [e for s, e in shown if s == service]
        if len(mine) == len(entries) and not next_token:
            after[service] = None
        elif mine:
            after[service] = mine[-1].resume_token
    return [e for _, e in shown], after


def _since(text: str | None) -> timestamp_pb2.Timestamp | None:
    if not text:
        return None
    stamp = timestamp_pb2.Timestamp()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = datetime.now(UTC) - parse_duration(text).ToTimedelta()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp.FromDatetime(moment)
    return stamp


def list_(ctx: CliContext, args: argparse.Namespace) -> int:
    """Print a page of audit entries, newest first, merged across services."""
    services = list(args.service or SERVICE_NAMES)
    cursor = decode_cursor(args.cursor or "", services)
    since = _since(args.since)
    # Never more than a service's own page maximum: the merge is exact only when every
    # service was asked for at least as many entries as are shown.
    limit = min(max(args.limit, 1), 500)
    shown: list[pb.AuditEntry] = []
    while True:
        pages: dict[str, Page] = {}
        for service in services:
            token = cursor[service]
            if token is None:
                continue
            request = pb.ListAuditEntriesRequest(
                page_size=limit,
                page_token=token,
                actor=args.actor or "",
                target_id=args.target or "",
                rpc=args.rpc or "",
                tenant_id=args.tenant or "",
            )
            if since is not None:
                request.since_time.CopyFrom(since)
            reply = ctx.call(service, STUB, "ListAuditEntries", request)
            pages[service] = (list(reply.entries), reply.next_page_token)
        page, cursor = merge(pages, cursor, limit)
        shown += page
        if not args.all or not page or all(t is None for t in cursor.values()):
            break
    _print(ctx, shown, encode_cursor(cursor))
    return 0


def _print(ctx: CliContext, entries: list[pb.AuditEntry], cursor: str) -> None:
    data: dict[str, Any] = {"entries": [to_dict(e) for e in entries], "next_cursor": cursor}
    rows = [
        [short_time(e.time), e.service, e.actor, e.rpc.rsplit("/", 1)[-1], e.target_id, e.code]
        + ([e.tenant_id] if any(x.tenant_id != entries[0].tenant_id for x in entries) else [])
        for e in entries
    ]
    headers = ["time", "service", "actor", "rpc", "target", "code"]
    if rows and len(rows[0]) > len(headers):
        headers.append("tenant")
    emit(ctx, data, rows=rows, headers=headers)
    if cursor and not ctx.json:
        print(f"more: --cursor {cursor}")


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``audit list``."""
    audit = sub.add_parser("audit", help="who changed what (the audit log)").add_subparsers(
        dest="action", required=True
    )
    p = audit.add_parser(
        "list",
        parents=parents,
        help="mutating calls, newest first, from every service (needs audit:read or admin)",
    )
    p.add_argument("--since", help="only after this: an instant (2026-01-31T08:00Z) or an age (7d)")
    p.add_argument("--actor", help="only calls by this token subject")
    p.add_argument("--target", help="only calls on this resource id")
    p.add_argument("--rpc", help="only this RPC, e.g. CreateRule")
    p.add_argument("--tenant", help="admin: only this tenant (default: every tenant)")
    p.add_argument("--service", nargs="+", choices=SERVICE_NAMES, help="only these services")
    p.add_argument("--limit", type=int, default=50, help="entries per page (at most 500)")
    p.add_argument("--cursor", help="continue after a previous page (the value it printed)")
    p.add_argument("--all", action="store_true", help="follow the cursor to the last page")
    p.set_defaults(handler=list_)
