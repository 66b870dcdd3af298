"""The SLA badge of a ticket merged into another: cancelled, never "SLA met"."""

from __future__ import annotations

from datetime import UTC, datetime

from services.console import format as fmt

NOW = datetime(2026, 3, 19, 12, 0, tzinfo=UTC)


def _clock(state: str, kind: str = "resolution") -> dict[str, object]:
    return {"kind": kind, "state": state, "due": NOW, "percent": 10}


def test_a_merged_tickets_cancelled_clocks_show_as_cancelled_not_met() -> None:
    cancelled = fmt.sla_badge([_clock("cancelled", "first_response"), _clock("cancelled")], NOW)
    assert (cancelled.state, cancelled.text) == ("cancelled", "SLA cancelled (merged)")
    answered = fmt.sla_badge([_clock("met", "first_response"), _clock("cancelled")], NOW)
    assert answered.state == "cancelled"
    # A breach before the merge still shows as the breach.
    assert fmt.sla_badge([_clock("breached"), _clock("cancelled")], NOW).state == "breached"
    assert fmt.sla_badge([_clock("met")], NOW).state == "met"
