"""Incidents (issue 19): which incident a correlated alert joins, when a member takes the
incident's face, when the parent closes and when a client is in an alert storm. Pure; the
window semantics are docs/CORRELATION.md's."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

#: The group key prefix of a client's storm incident (correlation keys start ``corr:``).
STORM_PREFIX = "storm:"
#: The value a storm's correlation carries: alert tickets the client opened before it.
STORM_TICKETS_BEFORE = "tickets_before"


@dataclass(frozen=True, slots=True)
class Correlation:
    """The ``correlation`` block of an ``alert.routed`` (set when a rule matched)."""

    rule_id: str
    rule_name: str
    group_key: str
    window: timedelta
    primary: bool = False
    group_values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident: a group key's members behind one parent ticket."""

    id: str
    tenant_id: str
    group_key: str
    rule_id: str
    rule_name: str
    parent_ticket_id: str
    started_at: datetime
    window: timedelta
    storm: bool = False
    client_id: str = ""
    client_name: str = ""
    primary_series_key: str = ""
    severity: int = 0
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    last_joined_at: datetime | None = None
    #: A storm's: the alert tickets its client opened before it (its title counts them).
    storm_tickets_before: int = 0

    @property
    def is_open(self) -> bool:
        """Whether the incident (its parent ticket) is open."""
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class MergeTarget:
    """The ticket a closed ticket was merged into (``ticket.closed``'s ``merged_into``)."""

    ticket_id: str
    ticket_number: int
    incident_id: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    """One series linked to an incident, with its own occurrence count."""

    incident_id: str
    series_key: str
    dedup_key: str
    primary: bool
    occurrences: int
    first_at: datetime
    last_at: datetime
    reset_at: datetime | None = None
    merged_ticket_id: str | None = None
    device_name: str = ""
    condition: str = ""
    severity: int = 0
    joined_at: datetime | None = None
    moved_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the member's alert is still firing (no reset since its last trigger)."""
        return self.reset_at is None


class JoinKind(enum.Enum):
    """What a correlated trigger does."""

    ATTACH = "attach"
    REOPEN = "reopen"
    START = "start"


@dataclass(frozen=True, slots=True)
class Join:
    """A trigger's incident decision; ``incident`` is None for START."""

    kind: JoinKind
    incident: Incident | None = None


def in_window(incident: Incident, occurred_at: datetime) -> bool:
    """Whether an alert that occurred at ``occurred_at`` falls in the incident's window
    (``start + window``, exclusive; the window never slides; an earlier alert, delivered
    late, is inside)."""
    return occurred_at < incident.started_at + incident.window


def reopenable(incident: Incident, occurred_at: datetime, reopen_window: timedelta) -> bool:
    """Whether a closed incident is reopened by a member that occurred at ``occurred_at``:
    within ``reopen_window`` of its close (the tenant's ticket reopen window; the incident's
    own window when the tenant never reopens)."""
    if incident.closed_at is None:
        return False
    window = reopen_window if reopen_window > timedelta(0) else incident.window
    return occurred_at - incident.closed_at <= window


def decide_join(
    *,
    occurred_at: datetime,
    series_incident: Incident | None,
    group_incident: Incident | None,
    reopen_window: timedelta,
) -> Join:
    """Where a correlated trigger goes.

    The incident its series already belongs to comes first, whatever key the alert carries
    (rules may change mid-incident): open -> attach; closed and within the reopen window ->
    reopen. Then the group key's latest incident: the alert inside its window -> attach (or
    reopen it, when closed within the reopen window). Anything else starts an incident.
    """
    if series_incident is not None:
        if series_incident.is_open:
            return Join(JoinKind.ATTACH, series_incident)
        if reopenable(series_incident, occurred_at, reopen_window):
            return Join(JoinKind.REOPEN, series_incident)
    if group_incident is not None and in_window(group_incident, occurred_at):
        if group_incident.is_open:
            return Join(JoinKind.ATTACH, group_incident)
        if reopenable(group_incident, occurred_at, reopen_window):
            return Join(JoinKind.REOPEN, group_incident)
    return Join(JoinKind.START)


def takes_face(incident: Incident, *, primary: bool) -> bool:
    """Whether a joining member becomes the incident's face: a primary arriving while the
    incident has none (primary late, within the window)."""
    return primary and not incident.primary_series_key


def closes_parent(members: Iterable[Member], *, human_touched: bool, close_on_reset: bool) -> bool:
    """Whether the parent closes now: every member has reset, no person touched the parent
    and its rule closes on reset (the ticket reset rules, applied to the whole incident).
    Members a person moved out do not count."""
    listed = [m for m in members if m.moved_at is None]
    return (
        bool(listed) and all(not m.active for m in listed) and close_on_reset and not human_touched
    )


def worst_severity(current: int, joining: int) -> int:
    """The incident's severity: its worst member's (ingest severities grow worse)."""
    return max(current, joining)


def reset_comment(*, series_key: str, device_name: str, reset_at: datetime, active: int) -> str:
    """The parent's comment for a member's reset."""
    who = device_name or series_key
    left = "all members have reset" if active == 0 else f"{active} member(s) still firing"
    return f"Member {who} (series {series_key}) reset at {reset_at:%Y-%m-%d %H:%M:%SZ}; {left}."


def merged_comment(*, parent_number: int, incident_id: str) -> str:
    """The comment on a member's own ticket when it is merged into an incident."""
    return (
        f"Merged into incident {incident_id}: this alert is now a linked alert of ticket "
        f"#{parent_number}, which carries its occurrences, SLA and notifications."
    )


# --- what people see ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as listed: with its member counts."""

    incident: Incident
    members: int
    active: int


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of an incident's timeline."""

    at: datetime
    what: str
    series_key: str = ""


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """An incident with its members and timeline."""

    view: IncidentView
    members: tuple[Member, ...]
    timeline: tuple[TimelineEntry, ...]


def timeline(incident: Incident, members: list[Member]) -> list[TimelineEntry]:
    """What happened to an incident, in time order (from its members' rows)."""
    entries = [TimelineEntry(incident.started_at, "opened")]
    for m in members:
        entries.append(
            TimelineEntry(m.first_at, "primary joined" if m.primary else "joined", m.series_key)
        )
        if m.reset_at is not None:
            entries.append(TimelineEntry(m.reset_at, "reset", m.series_key))
        if m.moved_at is not None:
            entries.append(TimelineEntry(m.moved_at, "moved out", m.series_key))
    if incident.closed_at is not None:
        entries.append(TimelineEntry(incident.closed_at, "closed"))
    return sorted(entries, key=lambda e: e.at)


# --- storms ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StormSettings:
    """A tenant's storm protection. Defaults: more than 20 new tickets for one client in 10
    minutes is a storm (a client's distinct problems rarely open 20 tickets that fast outside
    an outage, while a site of 20+ devices dropping does); it calms down after 10 minutes
    without a new member."""

    enabled: bool = True
    tickets: int = 20
    window: timedelta = timedelta(minutes=10)


def storm_key(client_id: str) -> str:
    """The group key of a client's storm incident."""
    return f"{STORM_PREFIX}{client_id}"


def storming(
    *,
    settings: StormSettings,
    recent_opens: int,
    storm: Incident | None,
    occurred_at: datetime,
) -> bool:
    """Whether a new ticket of a client goes to the client's storm incident instead: the
    storm is still blowing (its last member joined within the window), or the client opened
    more than ``settings.tickets`` tickets in the window already."""
    if not settings.enabled:
        return False
    if storm is not None and storm.is_open:
        last = storm.last_joined_at or storm.started_at
        if occurred_at - last < settings.window:
            return True
    return recent_opens >= settings.tickets


def storm_title(*, client_name: str, alerts: int) -> str:
    """The storm parent's title: "storm: 37 alerts at ACME, 1 ticket"."""
    return f"storm: {alerts} alerts at {client_name or 'unknown client'}, 1 ticket"


_STORM_TITLE = re.compile(r"storm: [0-9]+ alerts at .*, 1 ticket", re.DOTALL)


def storm_retitle(incident: Incident, *, title: str, members: int) -> str | None:
    """The storm parent's new title once it has ``members`` member alerts (the client's
    tickets before the storm count too, as in its opening title); None when it stays: the
    count is unchanged, or the title is not one Triage wrote (a person renamed it)."""
    if not _STORM_TITLE.fullmatch(title):
        return None
    wanted = storm_title(
        client_name=incident.client_name, alerts=incident.storm_tickets_before + members
    )
    return None if wanted == title else wanted
