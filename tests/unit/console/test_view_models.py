"""What pages show: SLA badges, redacted payloads, the timeline, charts, the rule form."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from services.console import charts
from services.console import format as fmt
from services.console.views.rule_form import field_errors, moved, rule_from_form
from triage.ingest.v1 import resources_pb2 as ingest_res
from triage.rules.v1 import resources_pb2 as rules_res

NOW = datetime(2026, 3, 19, 12, 0, tzinfo=UTC)


def clock(
    state: str, minutes: float, kind: str = "resolution", percent: float = 10
) -> dict[str, object]:
    return {
        "kind": kind,
        "state": state,
        "due": NOW + timedelta(minutes=minutes),
        "percent": percent,
    }


def test_badge_prefers_a_breach_then_the_earliest_running_clock() -> None:
    assert fmt.sla_badge([], NOW).state == "none"
    breached = fmt.sla_badge([clock("running", 30), clock("breached", -90)], NOW)
    assert (breached.state, breached.text) == ("breached", "breached 1h 30m ago")
    first = fmt.sla_badge([clock("running", 120), clock("running", 45, "first_response")], NOW)
    assert (first.state, first.text, first.kind) == ("ok", "45m 00s left", "first_response")
    assert first.due == "2026-03-19T12:45:00Z"
    assert fmt.sla_badge([clock("running", 10)], NOW).state == "warn"
    assert fmt.sla_badge([clock("running", 100, percent=80)], NOW).state == "warn"
    assert fmt.sla_badge([clock("paused", 10), clock("met", 0)], NOW).state == "paused"
    assert fmt.sla_badge([clock("met", 0)], NOW).state == "met"


def test_raw_payload_is_pretty_and_never_shows_secrets() -> None:
    raw = json.dumps(
        {
            "device": {"name": "SRV-DC01", "apiKey": "k-123"},
            "Authorization": "Bearer abc",
            "hooks": [{"client_secret": "s-456", "url": "https://user:pw@rmm.example/x"}],
            "note": "call with Bearer xyz789",
        }
    ).encode()
    shown = fmt.pretty_payload(raw, "application/json")
    for secret in ("k-123", "abc", "s-456", "pw@", "xyz789"):
        assert secret not in shown
    assert "SRV-DC01" in shown and "\n  " in shown
    form = fmt.pretty_payload(b"token=t-1\nhost=a", "text/plain")
    assert "t-1" not in form and "host=a" in form
    assert fmt.pretty_payload(b"\xff\xfe\x00", "application/octet-stream").startswith("(3 bytes")


def test_durations_use_the_two_largest_units() -> None:
    assert [fmt.duration_text(s) for s in (12, 250, 7500, 3 * 86400 + 4 * 3600)] == [
        "12s",
        "4m 10s",
        "2h 05m",
        "3d 4h",
    ]


def test_breaches_are_counted_per_iso_week() -> None:
    monday = datetime(2026, 3, 16, 9, tzinfo=UTC)
    counts = charts.per_week(
        [
            (monday, None),
            (monday + timedelta(days=6), monday + timedelta(days=7)),
            (monday - timedelta(days=1), None),
            (monday - timedelta(weeks=20), None),
        ],
        now=NOW,
        weeks=3,
    )
    assert [c.week for c in counts] == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert [(c.breached, c.met_late) for c in counts] == [(0, 0), (1, 0), (2, 1)]
    svg = charts.bar_chart(counts)
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title" in svg


def test_week_view_marks_shift_hours_and_wraps_night_shifts() -> None:
    rows = charts.week_view(
        [([1, 2, 3, 4, 5], 8 * 60, 17 * 60 + 30), ([7], 22 * 60, 2 * 60)], always_open=False
    )
    assert rows[0].hours[8] and rows[0].hours[17] and not rows[0].hours[18]
    assert not rows[5].hours[12]
    assert rows[6].hours[23] and rows[0].hours[1] and not rows[0].hours[2]
    assert all(all(r.hours) for r in charts.week_view([], always_open=True))


def test_rule_form_builds_the_rule_and_keeps_what_it_does_not_show() -> None:
    base = rules_res.Rule(id="r1", etag="e1")
    base.conditions.label_matchers.add(name="env", value="prod")
    rule, mask = rule_from_form(
        {
            "display_name": ["Disk"],
            "providers": ["ninjaone", "nonsense"],
            "kinds": ["trigger"],
            "clients": ["c1, c2 ,"],
            "min_severity": ["high"],
            "message_regex": ["disk.*full"],
            "ticket_action": ["create_ticket"],
            "priority_override": ["p2"],
            "close_on_reset": ["on"],
        },
        base=base,
    )
    assert rule.id == "r1" and rule.display_name == "Disk"
    assert list(rule.conditions.providers) == [ingest_res.PROVIDER_NINJAONE]
    assert list(rule.conditions.clients) == ["c1", "c2"]
    assert rule.conditions.min_severity == ingest_res.SEVERITY_HIGH
    assert rule.conditions.label_matchers[0].name == "env"
    assert rule.actions.close_on_reset and not rule.actions.reset_in_rmm_on_close
    assert not rule.disabled
    assert set(mask) == {"display_name", "description", "disabled", "conditions", "actions"}


def test_api_violations_land_beside_their_fields() -> None:
    errors = field_errors(
        {
            "rule.conditions.message_regex": "not a valid RE2 pattern",
            "rule.actions.priority": "unknown",
            "rule.mystery": "odd",
        }
    )
    assert errors == {
        "message_regex": "not a valid RE2 pattern",
        "priority_override": "unknown",
        "_": "odd",
    }


def test_move_swaps_one_place_and_stops_at_the_ends() -> None:
    assert moved(["a", "b", "c"], "b", "up") == ["b", "a", "c"]
    assert moved(["a", "b", "c"], "b", "down") == ["a", "c", "b"]
    assert moved(["a", "b", "c"], "a", "up") == ["a", "b", "c"]
    assert moved(["a", "b", "c"], "c", "down") == ["a", "b", "c"]
    assert moved(["a"], "zz", "up") == ["a"]
