"""Which incidents correlation would have formed over replayed history, and the tickets saved.

Pure. The same window semantics tickets applies (docs/CORRELATION.md): an incident starts
at its first member's occurred time; an alert of the same group key occurring before
``start + window`` joins it; a later trigger starts a new incident. A member series' later
alerts (its reset, say) stay with the incident the series joined. Ticket openings are
modelled per series: a trigger whose routing creates a ticket opens one unless the series'
previous ticket is still open (no reset since).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.rules.domain.correlation import Correlation
from services.rules.domain.model import RoutableAlert


@dataclass(frozen=True, slots=True)
class Replayed:
    """One replayed alert: the alert, whether its routing creates tickets, its correlation."""

    alert: RoutableAlert
    create_ticket: bool
    correlation: Correlation | None


@dataclass(slots=True)
class Incident:
    """One incident formed in a replay."""

    group_key: str
    rule_id: str
    rule_name: str
    start: datetime
    window: timedelta
    values: tuple[tuple[str, str], ...]
    members: int = 0
    series: set[str] = field(default_factory=set)
    tickets_merged: int = 0
    primary_alert_id: str = ""


@dataclass(frozen=True, slots=True)
class IncidentReport:
    """The incidents by start time and the ticket counts without and with correlation."""

    incidents: tuple[Incident, ...]
    alerts: int
    correlated: int
    tickets_without: int
    tickets_with: int

    @property
    def tickets_saved(self) -> int:
        """Tickets correlation saves."""
        return self.tickets_without - self.tickets_with


def form_incidents(replayed: Iterable[Replayed]) -> IncidentReport:
    """Group ``replayed`` alerts (in occurred order) into incidents and count tickets."""
    incidents: list[Incident] = []
    current: dict[str, Incident] = {}  # group key -> its latest incident
    member_of: dict[str, Incident] = {}  # series key -> the incident it joined
    open_series: set[str] = set()
    alerts = correlated = without = uncorrelated_openings = 0
    for r in replayed:
        alert = r.alert
        alerts += 1
        opens = False
        if alert.kind == "trigger" and r.create_ticket and alert.series_key not in open_series:
            opens = True
            open_series.add(alert.series_key)
            without += 1
        elif alert.kind == "reset":
            open_series.discard(alert.series_key)
        c = r.correlation
        if c is None:
            uncorrelated_openings += opens
            continue
        correlated += 1
        at = alert.event_time
        incident = current.get(c.group_key)
        if incident is None or at >= incident.start + incident.window:
            joined = member_of.get(alert.series_key)
            if alert.kind != "trigger" and joined is not None:
                incident = joined  # a member's reset or acknowledgement after the window
            elif alert.kind != "trigger":
                uncorrelated_openings += opens
                continue  # no incident starts with a reset
            else:
                incident = Incident(
                    group_key=c.group_key,
                    rule_id=c.rule_id,
                    rule_name=c.rule_name,
                    start=at,
                    window=c.window,
                    values=c.values,
                )
                incidents.append(incident)
                current[c.group_key] = incident
        incident.members += 1
        incident.series.add(alert.series_key)
        incident.tickets_merged += opens
        member_of[alert.series_key] = incident
        if c.primary and not incident.primary_alert_id:
            incident.primary_alert_id = alert.alert_id
    with_correlation = uncorrelated_openings + sum(1 for i in incidents if i.tickets_merged)
    return IncidentReport(
        incidents=tuple(sorted(incidents, key=lambda i: (i.start, i.group_key))),
        alerts=alerts,
        correlated=correlated,
        tickets_without=without,
        tickets_with=with_correlation,
    )


@dataclass(frozen=True, slots=True)
class CorrelationSimulation:
    """A replay's incidents and counts, whether the cap cut it short, the rule-set version."""

    report: IncidentReport
    truncated: bool
    rule_set_version: int
