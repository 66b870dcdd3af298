"""Table-driven matching: one row per condition kind and edge."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest

from services.rules.domain import (
    Conditions,
    LabelMatcher,
    Schedule,
    TimeRange,
    decide,
)
from tests.unit.rules.factories import T0, make_alert, make_rule, make_rules

LM = LabelMatcher
C = Conditions

CASES: list[tuple[str, Conditions, dict[str, Any], bool]] = [
    ("empty matches all", C(), {}, True),
    ("provider listed", C(providers=("datto", "ninjaone")), {}, True),
    ("provider case-insensitive", C(providers=("NinjaOne",)), {}, True),
    ("provider not listed", C(providers=("datto",)), {}, False),
    ("integration listed", C(integration_ids=("int-1",)), {}, True),
    ("integration not listed", C(integration_ids=("int-2",)), {}, False),
    ("client by id", C(clients=("c-1",)), {}, True),
    ("client by name, any case", C(clients=("ACME corp",)), {}, True),
    ("client id is case-sensitive", C(clients=("C-1",)), {"client_name": None}, False),
    ("client other", C(clients=("c-2", "Globex")), {}, False),
    (
        "client missing on alert",
        C(clients=("c-1",)),
        {"client_id": None, "client_name": None},
        False,
    ),
    ("site by id", C(sites=("s-1",)), {}, True),
    ("site by name", C(sites=("head office",)), {}, True),
    ("site other", C(sites=("s-9",)), {}, False),
    ("device glob on name", C(device_globs=("srv-dc*",)), {}, True),
    ("device glob on id", C(device_globs=("dev-?",)), {}, True),
    ("device glob class", C(device_globs=("SRV-DC0[0-2]",)), {}, True),
    ("device glob no match", C(device_globs=("ws-*",)), {}, False),
    ("device glob anchored", C(device_globs=("DC01",)), {}, False),
    (
        "device glob, no device",
        C(device_globs=("*",)),
        {"device_id": None, "device_name": None},
        False,
    ),
    ("severity equal", C(min_severity=3), {}, True),
    ("severity above", C(min_severity=2), {"severity": 5}, True),
    ("severity below", C(min_severity=4), {}, False),
    ("kind listed", C(kinds=("trigger", "reset")), {}, True),
    ("kind not listed", C(kinds=("reset",)), {}, False),
    ("condition exact", C(conditions=("disk.low",)), {}, True),
    ("condition exact other", C(conditions=("disk.high",)), {}, False),
    ("condition glob", C(conditions=("disk.*",)), {}, True),
    ("condition glob other", C(conditions=("cpu.*",)), {}, False),
    ("condition exact or glob", C(conditions=("cpu.high", "disk.l?w")), {}, True),
    ("regex search", C(message_regex=r"\d{2}% used"), {}, True),
    ("regex not anchored", C(message_regex=r"C:"), {}, True),
    ("regex no match", C(message_regex=r"^Memory"), {}, False),
    ("keyword in message", C(keywords=("VOLUME",)), {}, True),
    ("keyword in title", C(keywords=("nothing", "disk c")), {}, True),
    ("keyword absent", C(keywords=("offline",)), {}, False),
    ("label =", C(label_matchers=(LM("env", "=", "prod"),)), {"labels": {"env": "prod"}}, True),
    (
        "label = other",
        C(label_matchers=(LM("env", "=", "prod"),)),
        {"labels": {"env": "dev"}},
        False,
    ),
    ("label = empty, missing", C(label_matchers=(LM("env", "=", ""),)), {}, True),
    ("label !=", C(label_matchers=(LM("env", "!=", "prod"),)), {"labels": {"env": "dev"}}, True),
    ("label != missing", C(label_matchers=(LM("env", "!=", "prod"),)), {}, True),
    (
        "label != same",
        C(label_matchers=(LM("env", "!=", "prod"),)),
        {"labels": {"env": "prod"}},
        False,
    ),
    (
        "label =~",
        C(label_matchers=(LM("env", "=~", "prod|stag.*"),)),
        {"labels": {"env": "staging"}},
        True,
    ),
    (
        "label =~ anchored",
        C(label_matchers=(LM("env", "=~", "prod"),)),
        {"labels": {"env": "preprod"}},
        False,
    ),
    ("label =~ .* missing", C(label_matchers=(LM("env", "=~", ".*"),)), {}, True),
    (
        "label !~",
        C(label_matchers=(LM("env", "!~", "prod"),)),
        {"labels": {"env": "preprod"}},
        True,
    ),
    (
        "label !~ hit",
        C(label_matchers=(LM("env", "!~", "p.*"),)),
        {"labels": {"env": "prod"}},
        False,
    ),
    ("label !~ .+ missing", C(label_matchers=(LM("env", "!~", ".+"),)), {}, True),
    (
        "all labels must hold",
        C(label_matchers=(LM("env", "=", "prod"), LM("team", "=", "ops"))),
        {"labels": {"env": "prod", "team": "dev"}},
        False,
    ),
    (
        "all present conditions",
        C(providers=("ninjaone",), min_severity=3, clients=("c-1",), keywords=("volume",)),
        {},
        True,
    ),
    (
        "one failing condition fails",
        C(providers=("ninjaone",), min_severity=3, clients=("c-1",), keywords=("cpu",)),
        {},
        False,
    ),
]


def _routes(conditions: Conditions, alert_fields: dict[str, Any], **rule_set: Any) -> bool:
    rules = make_rules(make_rule(conditions=conditions), **rule_set)
    decision = decide(rules, [], make_alert(**alert_fields), T0)
    rule_entries = [e for e in decision.explanation if e.rule_id == "r1"]
    # The lazily derived explanation must agree with the fast path.
    assert all(e.matched for e in rule_entries) == (decision.kind == "routed")
    return decision.kind == "routed"


@pytest.mark.parametrize(
    ("conditions", "alert_fields", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_condition_kinds(
    conditions: Conditions, alert_fields: dict[str, Any], expected: bool
) -> None:
    assert _routes(conditions, alert_fields) is expected


def test_integration_scope_on_the_rule() -> None:
    rules = make_rules(make_rule(integration_ids=("int-2",)))
    assert decide(rules, [], make_alert(), T0).kind == "unmatched"
    assert decide(rules, [], make_alert(integration_id="int-2"), T0).kind == "routed"


NIGHTS = Schedule(days=frozenset({4}), ranges=(TimeRange(time(22), time(6)),))  # Fri 22:00-06:00
OFFICE = Schedule(days=frozenset({0, 1, 2, 3, 4}), ranges=(TimeRange(time(9), time(17, 30)),))

SCHEDULE_CASES: list[tuple[str, Schedule, str, datetime, bool]] = [
    ("office hours", OFFICE, "UTC", datetime(2025, 6, 4, 9, 0, tzinfo=UTC), True),
    ("office end exclusive", OFFICE, "UTC", datetime(2025, 6, 4, 17, 30, tzinfo=UTC), False),
    ("office saturday", OFFICE, "UTC", datetime(2025, 6, 7, 10, 0, tzinfo=UTC), False),
    ("night start day", NIGHTS, "UTC", datetime(2025, 6, 6, 23, 0, tzinfo=UTC), True),
    ("night after midnight", NIGHTS, "UTC", datetime(2025, 6, 7, 5, 59, tzinfo=UTC), True),
    ("night ends 06:00", NIGHTS, "UTC", datetime(2025, 6, 7, 6, 0, tzinfo=UTC), False),
    (
        "night belongs to its start day",
        NIGHTS,
        "UTC",
        datetime(2025, 6, 6, 3, 0, tzinfo=UTC),
        False,
    ),
    ("night before start", NIGHTS, "UTC", datetime(2025, 6, 6, 21, 59, tzinfo=UTC), False),
    # 16:30 UTC is 09:30 in Los Angeles (PDT) but 17:30 in London (BST).
    (
        "zone: LA in hours",
        OFFICE,
        "America/Los_Angeles",
        datetime(2025, 6, 4, 16, 30, tzinfo=UTC),
        True,
    ),
    (
        "zone: London after hours",
        OFFICE,
        "Europe/London",
        datetime(2025, 6, 4, 16, 30, tzinfo=UTC),
        False,
    ),
    # Friday 23:30 in Tokyo is 14:30 UTC Friday.
    ("zone: Tokyo night", NIGHTS, "Asia/Tokyo", datetime(2025, 6, 6, 14, 30, tzinfo=UTC), True),
    (
        "zone: weekday shifts",
        OFFICE,
        "Pacific/Auckland",
        datetime(2025, 6, 6, 22, 0, tzinfo=UTC),
        False,
    ),
    (
        "days only",
        Schedule(days=frozenset({5, 6})),
        "UTC",
        datetime(2025, 6, 7, 3, 0, tzinfo=UTC),
        True,
    ),
    (
        "same start and end is all day",
        Schedule(days=frozenset({2}), ranges=(TimeRange(time(0), time(0)),)),
        "UTC",
        datetime(2025, 6, 4, 23, 59, tzinfo=UTC),
        True,
    ),
]


@pytest.mark.parametrize(
    ("schedule", "zone", "at", "expected"),
    [c[1:] for c in SCHEDULE_CASES],
    ids=[c[0] for c in SCHEDULE_CASES],
)
def test_schedule(schedule: Schedule, zone: str, at: datetime, expected: bool) -> None:
    fields = {"occurred_at": at, "received_at": datetime(2030, 1, 1, tzinfo=UTC)}
    assert _routes(Conditions(schedule=schedule), fields, time_zone=zone) is expected


def test_schedule_uses_received_at_without_occurred_at() -> None:
    at = datetime(2025, 6, 6, 23, 0, tzinfo=UTC)
    assert _routes(Conditions(schedule=NIGHTS), {"occurred_at": None, "received_at": at})
