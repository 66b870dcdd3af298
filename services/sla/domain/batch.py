"""A batch of ticket events decided at once: which policy and calendar a new ticket starts
under, the clocks each event moves, and the state the batch leaves behind.

The service reads the batch's state (tickets, clocks, zones, policies, and the calendars
:func:`calendars_needed` names), :func:`decide_batch` decides with no I/O, and the service
writes the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.sla.domain.calendar_spec import CalendarSpec, default_calendar
from services.sla.domain.clock import TargetKind
from services.sla.domain.effects import Effects, Started
from services.sla.domain.policy import PolicySpec, Snapshot, default_policy, select_policy
from services.sla.domain.ticket import (
    AuditKind,
    ChangeKind,
    ClockRecord,
    TicketChange,
    TicketFacts,
    TicketView,
    priority_name,
)
from services.sla.domain.transitions import KINDS, apply_change, new_clock

DEFAULT_ZONE = "UTC"

Key = tuple[str, str]
"""(tenant, ticket)."""


def policy_for(candidates: Sequence[PolicySpec], facts: TicketFacts) -> PolicySpec:
    """The policy a new ticket starts under: client > queue > tenant default > the preset."""
    found = select_policy(candidates, client_id=facts.client_id, queue=facts.queue)
    return found or default_policy()


def calendars_needed(
    changes: Sequence[tuple[str, TicketChange]],
    known: Mapping[Key, TicketView],
    policies: Mapping[str, Sequence[PolicySpec]],
) -> list[tuple[str, str]]:
    """The (tenant, calendar) pairs the batch's new tickets start under, in first-use order."""
    seen: set[Key] = set(known)
    needed: dict[tuple[str, str], None] = {}
    for tenant_id, change in changes:
        key = (tenant_id, change.ticket.ticket_id)
        if key in seen:
            continue
        seen.add(key)
        policy = policy_for(policies.get(tenant_id, []), change.ticket)
        if policy.calendar_id:
            needed[(tenant_id, policy.calendar_id)] = None
    return list(needed)


def start_ticket(
    tenant_id: str,
    change: TicketChange,
    *,
    policy: PolicySpec,
    calendar: CalendarSpec | None,
    zone: str,
    now: datetime,
    effects: Effects,
) -> tuple[TicketView, list[ClockRecord]]:
    """The projection and clocks of a ticket new to the sla service, audited and announced."""
    facts = change.ticket
    snapshot = Snapshot(policy, calendar or default_calendar(zone))
    view = TicketView(tenant_id=tenant_id, facts=facts, closed=False, snapshot=snapshot)
    at = facts.opened_at
    paused = change.kind is ChangeKind.OPENED and facts.status in policy.pause_statuses
    records: list[ClockRecord] = []
    for kind in KINDS:
        record = new_clock(view, kind, facts.priority, at, paused=paused)
        if record is not None:
            records.append(record)
            effects.clocks.append((tenant_id, record))
            effects.entry(
                tenant_id,
                facts.ticket_id,
                AuditKind.STARTED,
                target=kind,
                cause=f"ticket opened at {priority_name(facts.priority)} under policy "
                f"{policy.name!r} v{policy.version}",
                at=at,
                event_id=change.event_id,
                after=record,
            )
    effects.notices.append(Started(view, tuple(records), now))
    return view, records


def after_change(
    records: Sequence[ClockRecord],
    saved: Sequence[tuple[str, ClockRecord]],
    stopped: Sequence[tuple[str, str, TargetKind]],
) -> list[ClockRecord]:
    """A ticket's clocks after one change recorded ``saved`` and ``stopped`` for it."""
    by_kind = {r.kind: r for r in records}
    for _, _, kind in stopped:
        by_kind.pop(kind, None)
    for _, record in saved:
        by_kind[record.kind] = record
    return [by_kind[k] for k in sorted(by_kind, key=lambda k: k.value)]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a batch of ticket events decided."""

    created: list[TicketView]
    """Tickets new to the sla service, to insert."""
    changed: list[TicketView]
    """Known tickets whose projection changed, to save."""
    notices_per_change: list[int]
    """How many notices each change (in input order) produced."""


def decide_batch(
    changes: Sequence[tuple[str, TicketChange]],
    *,
    views: Mapping[Key, TicketView],
    clocks: Mapping[Key, Sequence[ClockRecord]],
    zones: Mapping[str, str],
    policies: Mapping[str, Sequence[PolicySpec]],
    calendars: Mapping[tuple[str, str], CalendarSpec | None],
    now: datetime,
    effects: Effects,
) -> BatchOutcome:
    """Move clocks for a batch of ticket events, in order; ``effects`` ends with one clock
    record per touched clock (the last state it reached in the batch)."""
    current: dict[Key, TicketView] = dict(views)
    state: dict[Key, list[ClockRecord]] = {k: list(v) for k, v in clocks.items()}
    created: dict[Key, None] = {}
    counts: list[int] = []
    for tenant_id, change in changes:
        key = (tenant_id, change.ticket.ticket_id)
        view = current.get(key)
        first_notice = len(effects.notices)
        first_clock = len(effects.clocks)
        first_stop = len(effects.stopped)
        if view is None:
            policy = policy_for(policies.get(tenant_id, []), change.ticket)
            view, records = start_ticket(
                tenant_id,
                change,
                policy=policy,
                calendar=calendars.get((tenant_id, policy.calendar_id))
                if policy.calendar_id
                else None,
                zone=zones.get(tenant_id) or DEFAULT_ZONE,
                now=now,
                effects=effects,
            )
            created[key] = None
            current[key] = view
        else:
            records = state[key]
        if change.kind is not ChangeKind.OPENED:
            view = apply_change(view, records, change, now=now, effects=effects)
            current[key] = view
        state[key] = after_change(
            records, effects.clocks[first_clock:], effects.stopped[first_stop:]
        )
        counts.append(len(effects.notices) - first_notice)
    touched = {(t, r.ticket_id, r.kind) for t, r in effects.clocks}
    effects.clocks = [
        (tenant_id, record)
        for (tenant_id, ticket_id), records in state.items()
        for record in records
        if (tenant_id, ticket_id, record.kind) in touched
    ]
    return BatchOutcome(
        created=[current[k] for k in created],
        changed=[v for k, v in current.items() if k in views and v != views[k]],
        notices_per_change=counts,
    )
