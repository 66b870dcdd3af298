"""Grouping decisions of incidents (issue 19): windows, a late or early primary, members
resetting in any order, storms."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.tickets.domain.incidents import (
    Incident,
    JoinKind,
    Member,
    StormSettings,
    closes_parent,
    decide_join,
    in_window,
    reopenable,
    storm_key,
    storm_retitle,
    storm_title,
    storming,
    takes_face,
    worst_severity,
)

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def incident(**kw: object) -> Incident:
    base = Incident(
        id="i-1",
        tenant_id="t",
        group_key="corr:r:site_id=s1",
        rule_id="r",
        rule_name="site outage",
        parent_ticket_id="p",
        started_at=T0,
        window=WINDOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def member(series: str, reset: datetime | None = None) -> Member:
    return Member(
        incident_id="i-1",
        series_key=series,
        dedup_key=series,
        primary=False,
        occurrences=1,
        first_at=T0,
        last_at=T0,
        reset_at=reset,
    )


def test_window_is_fixed_from_the_first_member_and_exclusive() -> None:
    inc = incident()
    assert in_window(inc, T0 + WINDOW - timedelta(seconds=1))
    assert not in_window(inc, T0 + WINDOW)
    assert in_window(inc, T0 - timedelta(minutes=5))  # earlier, delivered late: joins


def test_a_trigger_inside_the_window_attaches_after_it_starts_anew() -> None:
    inc = incident()
    inside = decide_join(
        occurred_at=T0 + timedelta(minutes=9),
        series_incident=None,
        group_incident=inc,
        reopen_window=timedelta(0),
    )
    assert inside.kind is JoinKind.ATTACH and inside.incident == inc
    after = decide_join(
        occurred_at=T0 + WINDOW,
        series_incident=None,
        group_incident=inc,
        reopen_window=timedelta(0),
    )
    assert after.kind is JoinKind.START


def test_the_series_incident_wins_whatever_key_the_alert_carries() -> None:
    mine = incident(id="mine", group_key="corr:old")
    join = decide_join(
        occurred_at=T0 + timedelta(hours=3),
        series_incident=mine,
        group_incident=incident(id="other"),
        reopen_window=timedelta(0),
    )
    assert join.kind is JoinKind.ATTACH and join.incident == mine


def test_a_closed_incident_reopens_within_the_reopen_window_only() -> None:
    closed = incident(closed_at=T0 + timedelta(minutes=5))
    again = decide_join(
        occurred_at=T0 + timedelta(minutes=8),
        series_incident=closed,
        group_incident=closed,
        reopen_window=timedelta(minutes=30),
    )
    assert again.kind is JoinKind.REOPEN
    late = decide_join(
        occurred_at=T0 + timedelta(minutes=40),
        series_incident=closed,
        group_incident=closed,
        reopen_window=timedelta(minutes=30),
    )
    assert late.kind is JoinKind.START
    # A tenant that never reopens tickets still reopens within the incident's own window.
    assert reopenable(closed, T0 + timedelta(minutes=14), timedelta(0))
    assert not reopenable(closed, T0 + timedelta(minutes=16), timedelta(0))


def test_primary_early_or_late() -> None:
    # Early: the primary is the first member and starts the incident with its face.
    early = incident(primary_series_key="fw")
    assert not takes_face(early, primary=True)  # a second primary does not take it again
    # Late (within the window): it joins and takes the face of an incident without one.
    late = incident()
    assert (
        decide_join(
            occurred_at=T0 + timedelta(minutes=3),
            series_incident=None,
            group_incident=late,
            reopen_window=timedelta(0),
        ).kind
        is JoinKind.ATTACH
    )
    assert takes_face(late, primary=True)
    assert not takes_face(late, primary=False)
    # After the window a primary starts a new incident like any trigger.
    assert (
        decide_join(
            occurred_at=T0 + timedelta(minutes=12),
            series_incident=None,
            group_incident=late,
            reopen_window=timedelta(0),
        ).kind
        is JoinKind.START
    )


def test_members_resetting_in_any_order_close_only_after_the_last() -> None:
    series = ["a", "b", "c", "d"]
    for order in itertools.permutations(series):
        state = {s: member(s) for s in series}
        for i, s in enumerate(order):
            state[s] = member(s, reset=T0 + timedelta(minutes=i + 1))
            closes = closes_parent(state.values(), human_touched=False, close_on_reset=True)
            assert closes == (i == len(series) - 1)


def test_a_touched_parent_or_a_rule_that_keeps_tickets_stays_open() -> None:
    done = [member("a", reset=T0), member("b", reset=T0)]
    assert closes_parent(done, human_touched=False, close_on_reset=True)
    assert not closes_parent(done, human_touched=True, close_on_reset=True)
    assert not closes_parent(done, human_touched=False, close_on_reset=False)
    assert not closes_parent([], human_touched=False, close_on_reset=True)


def test_severity_is_the_worst_members() -> None:
    assert worst_severity(3, 5) == 5
    assert worst_severity(5, 2) == 5


def test_storm_after_more_than_n_tickets_until_calm() -> None:
    settings = StormSettings(tickets=20, window=timedelta(minutes=10))
    assert not storming(settings=settings, recent_opens=19, storm=None, occurred_at=T0)
    assert storming(settings=settings, recent_opens=20, storm=None, occurred_at=T0)
    blowing = incident(storm=True, group_key=storm_key("c1"), last_joined_at=T0)
    assert storming(
        settings=settings, recent_opens=0, storm=blowing, occurred_at=T0 + timedelta(minutes=9)
    )
    assert not storming(
        settings=settings, recent_opens=0, storm=blowing, occurred_at=T0 + timedelta(minutes=10)
    )
    off = StormSettings(enabled=False)
    assert not storming(settings=off, recent_opens=500, storm=blowing, occurred_at=T0)


def test_storm_title() -> None:
    assert storm_title(client_name="ACME", alerts=37) == "storm: 37 alerts at ACME, 1 ticket"


def test_storm_retitle_counts_the_tickets_before_and_the_members() -> None:
    storm = incident(storm=True, client_name="ACME", storm_tickets_before=20)
    opened = "storm: 21 alerts at ACME, 1 ticket"
    assert storm_retitle(storm, title=opened, members=1) is None  # unchanged
    assert storm_retitle(storm, title=opened, members=7) == "storm: 27 alerts at ACME, 1 ticket"
    # A title a person wrote stays.
    assert storm_retitle(storm, title="ACME: power cut at HQ", members=7) is None
