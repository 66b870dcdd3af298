"""``triage sla audit TICKET``: why a ticket's SLA clocks moved (ListTicketSlaAudit)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from triage.cli.common import CliContext, emit, enum_name, short_time, to_dict
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1.sla_service_pb2_grpc import SlaServiceStub


def audit(ctx: CliContext, args: argparse.Namespace) -> int:
    """Every audit entry of the ticket's clocks, oldest first (all pages)."""
    request = api.ListTicketSlaAuditRequest(ticket_id=args.ticket, page_size=500)
    entries: list[pb.SlaAuditEntry] = []
    while True:
        page = ctx.call("sla", SlaServiceStub, "ListTicketSlaAudit", request)
        entries += page.audit_entries
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    emit(
        ctx,
        {"audit_entries": [to_dict(e) for e in entries]},
        rows=[
            [
                short_time(e.event_time),
                enum_name(pb.SlaTargetKind, e.target_kind, "SLA_TARGET_KIND_"),
                enum_name(pb.SlaAuditKind, e.kind, "SLA_AUDIT_KIND_"),
                f"{enum_name(pb.SlaState, e.before_state, 'SLA_STATE_')}->"
                f"{enum_name(pb.SlaState, e.after_state, 'SLA_STATE_')}",
                short_time(e.after_due_time),
                f"{e.percent}%{' late' if e.late else ''}" if e.percent else "",
                e.cause,
            ]
            for e in entries
        ],
        headers=["time", "target", "kind", "state", "due", "threshold", "cause"],
    )
    return 0


def register(sub: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add ``sla audit`` to the ``sla`` group's subcommands."""
    p = sub.add_parser("audit", parents=list(parents), help="why a ticket's clocks moved")
    p.add_argument("ticket", help="ticket id")
    p.set_defaults(handler=audit)
