"""How ``triage sla show`` prints a ticket's clocks as table rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from triage.cli.common import enum_name, short_time
from triage.sla.v1 import resources_pb2 as pb

CLOCK_HEADERS = ["target", "state", "due", "remaining", "used", "met", "cancelled"]


def span(value: Any) -> str:
    """A Duration as ``H:MM:SS`` in whole seconds."""
    seconds = int(value.ToTimedelta().total_seconds())
    return str(timedelta(seconds=seconds))


def clock_rows(clocks: Sequence[pb.SlaClock]) -> list[list[str]]:
    """One row per clock, in :data:`CLOCK_HEADERS` order (a merged ticket's clocks show
    when they were cancelled; ``met`` stays empty then)."""
    return [
        [
            enum_name(pb.SlaTargetKind, c.kind, "SLA_TARGET_KIND_"),
            enum_name(pb.SlaState, c.state, "SLA_STATE_"),
            short_time(c.due_time),
            span(c.remaining),
            f"{c.percent_used:.1f}%",
            short_time(c.met_time),
            short_time(c.cancel_time),
        ]
        for c in clocks
    ]
