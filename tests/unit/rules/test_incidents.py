"""Grouping replayed history into incidents by window, and the tickets it saves."""

from __future__ import annotations

from datetime import UTC, timedelta

from services.rules.domain import Conditions
from services.rules.domain.correlation import (
    CompiledCorrelationSet,
    CorrelationRule,
    compile_correlation_rule,
)
from services.rules.domain.incidents import Replayed, form_incidents
from services.rules.domain.model import RoutableAlert
from tests.unit.rules.factories import T0, make_alert

WINDOW = timedelta(minutes=10)
RULES = CompiledCorrelationSet(
    [
        compile_correlation_rule(
            CorrelationRule(
                id="site",
                name="site outage",
                position=0,
                conditions=Conditions(conditions=("device.offline", "gateway.down")),
                group_by=("client_id", "site_id"),
                window=WINDOW,
                primary=Conditions(conditions=("gateway.down",)),
            ),
            [],
        )
    ],
    UTC,
)


def offline(
    device: int, minutes: float, *, kind: str = "trigger", site: str = "s-1", **fields: object
) -> RoutableAlert:
    condition = str(fields.pop("condition", "device.offline"))
    return make_alert(
        alert_id=f"a-{device}-{kind}-{minutes}-{site}",
        device_id=f"dev-{device}",
        series_key=f"{site}/dev-{device}/{condition}",
        condition=condition,
        kind=kind,
        site_id=site,
        occurred_at=T0 + timedelta(minutes=minutes),
        **fields,
    )


def replay(*alerts: RoutableAlert, create_ticket: bool = True) -> list[Replayed]:
    ordered = sorted(alerts, key=lambda a: a.event_time)
    return [Replayed(a, create_ticket, RULES.correlate(a)) for a in ordered]


def test_fifty_devices_of_one_site_in_a_minute_are_one_incident_one_ticket() -> None:
    report = form_incidents(replay(*(offline(i, i / 60) for i in range(50))))
    assert len(report.incidents) == 1
    incident = report.incidents[0]
    assert (incident.members, len(incident.series), incident.tickets_merged) == (50, 50, 50)
    assert incident.start == T0
    assert (report.tickets_without, report.tickets_with, report.tickets_saved) == (50, 1, 49)


def test_window_is_measured_from_the_first_member() -> None:
    """Members joining at 0, 6 and 9.9 minutes are one incident; one at 10 (start +
    window, not last member + window) starts the next."""
    report = form_incidents(replay(offline(1, 0), offline(2, 6), offline(3, 9.9), offline(4, 10)))
    assert [i.members for i in report.incidents] == [3, 1]
    assert report.incidents[1].start == T0 + WINDOW


def test_sites_form_separate_incidents() -> None:
    report = form_incidents(replay(offline(1, 0), offline(2, 1, site="s-2"), offline(3, 2)))
    assert sorted(i.members for i in report.incidents) == [1, 2]
    assert report.tickets_with == 2


def test_primary_arriving_late_within_the_window_is_the_primary() -> None:
    report = form_incidents(
        replay(offline(1, 0), offline(2, 1), offline(9, 3, condition="gateway.down"))
    )
    (incident,) = report.incidents
    assert incident.primary_alert_id == "a-9-trigger-3-s-1"
    assert incident.members == 3


def test_primary_arriving_first_opens_the_incident() -> None:
    report = form_incidents(replay(offline(9, 0, condition="gateway.down"), offline(1, 2)))
    (incident,) = report.incidents
    assert incident.primary_alert_id == "a-9-trigger-0-s-1"
    assert incident.start == T0


def test_primary_after_the_window_starts_a_new_incident() -> None:
    report = form_incidents(replay(offline(1, 0), offline(9, 12, condition="gateway.down")))
    assert [i.primary_alert_id for i in report.incidents] == ["", "a-9-trigger-12-s-1"]


def test_members_resetting_in_any_order_stay_in_their_incident() -> None:
    """Resets (even after the window) join the incident their series is in, never start
    one; a re-trigger after the window is a new incident."""
    report = form_incidents(
        replay(
            offline(1, 0),
            offline(2, 1),
            offline(2, 30, kind="reset"),
            offline(1, 45, kind="reset"),
            offline(1, 60),
        )
    )
    assert [i.members for i in report.incidents] == [4, 1]
    assert report.tickets_without == 3
    assert report.tickets_with == 2


def test_a_lone_reset_starts_no_incident() -> None:
    report = form_incidents(replay(offline(1, 0, kind="reset")))
    assert report.incidents == ()
    assert report.correlated == 1


def test_uncorrelated_alerts_keep_their_tickets() -> None:
    report = form_incidents(
        replay(offline(1, 0, condition="disk.low"), offline(2, 1, condition="disk.low"))
    )
    assert report.incidents == ()
    assert (report.tickets_without, report.tickets_with, report.tickets_saved) == (2, 2, 0)


def test_record_only_alerts_open_no_ticket_and_an_incident_of_them_saves_none() -> None:
    report = form_incidents(replay(offline(1, 0), offline(2, 1), create_ticket=False))
    assert len(report.incidents) == 1
    assert report.incidents[0].tickets_merged == 0
    assert (report.tickets_without, report.tickets_with) == (0, 0)


def test_a_series_still_open_does_not_open_a_second_ticket() -> None:
    report = form_incidents(
        replay(offline(1, 0, condition="disk.low"), offline(1, 5, condition="disk.low"))
    )
    assert report.tickets_without == 1
