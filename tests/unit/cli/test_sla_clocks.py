"""``triage sla show``: a merged ticket's cancelled clocks print when they were cancelled."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import Message

from triage.cli.common import CliContext
from triage.cli.main import build_parser
from triage.runtime.events import to_timestamp
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api

TICKET = "0190f5a4-0000-7000-8000-00000000000a"
MET = datetime(2026, 3, 2, 10, 20, tzinfo=UTC)
CANCELLED = datetime(2026, 3, 2, 11, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Canned(CliContext):
    """A context whose calls answer ``reply`` and remember what was asked."""

    reply: Message | None = None
    asked: list[tuple[str, str]] = field(default_factory=list)

    def call(self, service: str, stub_type: Any, method: str, request: Message) -> Any:
        """Answer ``reply`` without a network call."""
        self.asked.append((service, method))
        return self.reply


def _merged_ticket() -> api.GetTicketSlaResponse:
    """First response met before the merge; resolution cancelled by it."""
    first = pb.SlaClock(
        kind=pb.SLA_TARGET_KIND_FIRST_RESPONSE,
        state=pb.SLA_STATE_MET,
        met_time=to_timestamp(MET),
    )
    resolution = pb.SlaClock(
        kind=pb.SLA_TARGET_KIND_RESOLUTION,
        state=pb.SLA_STATE_CANCELLED,
        percent_used=12.5,
        cancel_time=to_timestamp(CANCELLED),
    )
    return api.GetTicketSlaResponse(
        ticket_sla=pb.TicketSla(
            ticket=pb.SlaTicketRef(ticket_id=TICKET), clocks=[first, resolution]
        )
    )


def _show(capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    args = build_parser().parse_args(["sla", "show", TICKET, *flags])
    ctx = Canned(
        addresses={}, token="t", json="--json" in flags, timeout=1.0, reply=_merged_ticket()
    )
    capsys.readouterr()
    assert args.handler(ctx, args) == 0
    assert ctx.asked == [("sla", "GetTicketSla")]
    return capsys.readouterr().out


def test_the_table_shows_when_a_clock_was_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    header, *rows = _show(capsys).splitlines()
    names = header.lower().split()
    assert names[-2:] == ["met", "cancelled"]
    cells = {row.split()[0]: row for row in rows}
    assert set(cells) == {"first_response", "resolution"}
    assert "cancelled" in cells["resolution"].split()
    assert cells["resolution"].endswith("2026-03-02 11:05:00Z")
    assert "2026-03-02 10:20:00Z" not in cells["resolution"]
    assert cells["first_response"].endswith("2026-03-02 10:20:00Z")
    assert "11:05:00Z" not in cells["first_response"]


def test_json_carries_cancel_time_and_no_met_time(capsys: pytest.CaptureFixture[str]) -> None:
    clocks = json.loads(_show(capsys, "--json"))["ticket_sla"]["clocks"]
    resolution = next(c for c in clocks if c["kind"] == "SLA_TARGET_KIND_RESOLUTION")
    assert resolution["state"] == "SLA_STATE_CANCELLED"
    assert resolution["cancel_time"] == "2026-03-02T11:05:00Z"
    assert "met_time" not in resolution
    first = next(c for c in clocks if c["kind"] == "SLA_TARGET_KIND_FIRST_RESPONSE")
    assert first["met_time"] == "2026-03-02T10:20:00Z"
    assert "cancel_time" not in first
