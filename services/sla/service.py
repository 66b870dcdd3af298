"""Use cases of the sla service; each runs in one transaction and stages its events there."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla import events, store
from services.sla.domain.clock import Clock, ClockError, ClockState, TargetKind
from services.sla.domain.codec import clock_from_json
from services.sla.domain.policy import (
    DEFAULT_PAUSE_STATUSES,
    DEFAULT_THRESHOLD_RULES,
    CalendarSpec,
    FirstResponse,
    HolidayRule,
    PolicySpec,
    ScopeKind,
    Snapshot,
    Violation,
    default_calendar,
    default_policy,
    select_policy,
)
from services.sla.domain.ticket import (
    AuditEntry,
    AuditKind,
    BreachView,
    ChangeKind,
    ClockRecord,
    TicketChange,
    TicketView,
    priority_name,
    status_name,
)
from services.sla.errors import (
    CalendarInUse,
    CalendarNotFound,
    EtagMismatch,
    HolidayNotFound,
    NameTaken,
    PolicyNotFound,
    ScopeTaken,
    SlaInvalid,
    TicketSlaNotFound,
)
from services.sla.models import requests
from services.sla.references import check_thresholds
from services.sla.store import BreachFilter, DueTimer, Stored
from services.sla.timesource import TimeSource
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime import (
    Database,
    IdempotentReply,
    Outbox,
    References,
    after_commit,
    inject_headers,
    new_id,
    once,
    pipelined,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
KINDS = (TargetKind.FIRST_RESPONSE, TargetKind.RESOLUTION)
DEFAULT_ZONE = "UTC"


@dataclass(slots=True)
class _Batch:
    """What one transaction changes: clocks, audit entries and events, written at the end."""

    clocks: list[tuple[str, ClockRecord]] = field(default_factory=list)
    audit: list[tuple[str, AuditEntry]] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    stopped: list[tuple[str, str, TargetKind]] = field(default_factory=list)

    def entry(
        self,
        tenant_id: str,
        ticket_id: str,
        kind: AuditKind,
        *,
        target: TargetKind,
        cause: str,
        at: datetime,
        event_id: str = "",
        before: ClockRecord | None = None,
        after: ClockRecord | None = None,
        percent: int = 0,
        late: bool = False,
    ) -> None:
        self.audit.append(
            (
                tenant_id,
                AuditEntry(
                    id=new_id(),
                    ticket_id=ticket_id,
                    target_kind=target,
                    kind=kind,
                    cause=cause,
                    event_at=at,
                    cause_event_id=event_id,
                    before_state=before.reported_state(at) if before else None,
                    after_state=after.reported_state(at) if after else None,
                    before_due_at=before.clock.due_at if before else None,
                    after_due_at=after.clock.due_at if after else None,
                    percent=percent,
                    late=late,
                ),
            )
        )


@dataclass(frozen=True, slots=True)
class FireResult:
    """What one scheduler pass did."""

    claimed: int
    fired: int
    lateness: tuple[float, ...] = ()
    """Seconds between each fired threshold's instant and its firing."""


IncomingChange = tuple[str, TicketChange, dict[str, str] | None]
"""(tenant, change, trace headers of the event or None for the current context)."""


class ConcurrentStart(RuntimeError):
    """Another transaction inserted a ticket this batch meant to start; retry the events."""


def _after_change(
    records: Sequence[ClockRecord],
    saved: Sequence[tuple[str, ClockRecord]],
    stopped: Sequence[tuple[str, str, TargetKind]],
) -> list[ClockRecord]:
    """A ticket's clocks after one change staged ``saved`` and ``stopped`` for it."""
    by_kind = {r.kind: r for r in records}
    for _, _, kind in stopped:
        by_kind.pop(kind, None)
    for _, record in saved:
        by_kind[record.kind] = record
    return [by_kind[k] for k in sorted(by_kind, key=lambda k: k.value)]


class SlaService:
    """Calendars, policies, ticket clocks and timer firing."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        time: TimeSource,
        late_after: timedelta = timedelta(seconds=30),
        references: References | None = None,
    ) -> None:
        self._db = db
        self._references = references
        self._outbox = outbox
        self._time = time
        self._late_after = late_after
        self._timer_listeners: list[Callable[[datetime], None]] = []

    @property
    def time(self) -> TimeSource:
        """The service's source of "now"."""
        return self._time

    def on_timer(self, listener: Callable[[datetime], None]) -> None:
        """Call ``listener(due)`` after each commit that schedules a timer due at ``due``."""
        self._timer_listeners.append(listener)

    # --- calendars -----------------------------------------------------------------------------

    @staticmethod
    def _check_calendar(spec: CalendarSpec, problems: Sequence[Violation]) -> None:
        bad = [*problems, *spec.validate()]
        if not bad:
            try:
                spec.business_calendar()
            except ValueError as exc:
                bad.append(Violation("calendar", str(exc)))
        if bad:
            raise SlaInvalid.of(bad)

    async def create_calendar(
        self,
        *,
        tenant_id: str,
        spec: CalendarSpec,
        problems: Sequence[Violation],
        answer: IdempotentReply[Stored[CalendarSpec], M],
    ) -> M:
        """Create a calendar (INVALID_ARGUMENT with field violations when malformed)."""
        self._check_calendar(spec, problems)

        async def work(session: AsyncSession) -> Stored[CalendarSpec]:
            now = self._time.now()
            try:
                await store.insert_calendar(session, tenant_id=tenant_id, spec=spec, at=now)
            except IntegrityError as exc:
                raise NameTaken(f"a calendar named {spec.name!r} exists") from exc
            return Stored(dataclasses.replace(spec, version=1), now, now)

        return await once(self._db, requests, tenant_id, answer, work)

    async def get_calendar(self, *, tenant_id: str, calendar_id: str) -> Stored[CalendarSpec]:
        """One calendar; NOT_FOUND for an unknown id or another tenant's."""
        async with self._db.transaction(tenant_id) as session:
            return await self._calendar(session, tenant_id, calendar_id)

    @staticmethod
    async def _calendar(
        session: AsyncSession, tenant_id: str, calendar_id: str, *, lock: bool = False
    ) -> Stored[CalendarSpec]:
        if not _is_uuid(calendar_id):
            raise CalendarNotFound(f"calendar {calendar_id!r} not found")
        found = await store.get_calendar(
            session, tenant_id=tenant_id, calendar_id=calendar_id, lock=lock
        )
        if found is None:
            raise CalendarNotFound(f"calendar {calendar_id!r} not found")
        return found

    async def list_calendars(
        self, *, tenant_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Stored[CalendarSpec]]:
        """Calendars in creation order after a keyset position."""
        async with self._db.transaction(tenant_id) as session:
            return await store.list_calendars(
                session, tenant_id=tenant_id, after=after, limit=limit
            )

    async def update_calendar(
        self,
        *,
        tenant_id: str,
        patch: CalendarSpec,
        fields: Iterable[str],
        etag: str,
        problems: Sequence[Violation],
        answer: IdempotentReply[Stored[CalendarSpec], M],
    ) -> M:
        """Change the named fields; running clocks keep their snapshot."""
        names = set(fields)

        async def work(session: AsyncSession) -> Stored[CalendarSpec]:
            current = await self._calendar(session, tenant_id, patch.id, lock=True)
            _check_etag(etag, current.value.version)
            changed = dataclasses.replace(
                current.value,
                **{n: getattr(patch, n) for n in names},
                version=current.value.version + 1,
            )
            self._check_calendar(changed, problems)
            now = self._time.now()
            try:
                await store.replace_calendar(session, tenant_id=tenant_id, spec=changed, at=now)
            except IntegrityError as exc:
                raise NameTaken(f"a calendar named {changed.name!r} exists") from exc
            return Stored(changed, current.created_at, now)

        return await once(self._db, requests, tenant_id, answer, work)

    async def delete_calendar(
        self, *, tenant_id: str, calendar_id: str, etag: str, answer: IdempotentReply[None, M]
    ) -> M:
        """Delete a calendar; FAILED_PRECONDITION while a policy uses it."""

        async def work(session: AsyncSession) -> None:
            current = await self._calendar(session, tenant_id, calendar_id, lock=True)
            _check_etag(etag, current.value.version)
            if await store.calendar_in_use(session, tenant_id=tenant_id, calendar_id=calendar_id):
                raise CalendarInUse("a policy uses this calendar")
            await store.delete_calendar(session, tenant_id=tenant_id, calendar_id=calendar_id)

        return await once(self._db, requests, tenant_id, answer, work)

    async def add_holiday(
        self,
        *,
        tenant_id: str,
        calendar_id: str,
        holiday: HolidayRule,
        problems: Sequence[Violation],
        answer: IdempotentReply[tuple[HolidayRule, Stored[CalendarSpec]], M],
    ) -> M:
        """Add a holiday or closure to a calendar."""

        async def work(session: AsyncSession) -> tuple[HolidayRule, Stored[CalendarSpec]]:
            current = await self._calendar(session, tenant_id, calendar_id, lock=True)
            changed = dataclasses.replace(
                current.value,
                holidays=(*current.value.holidays, holiday),
                version=current.value.version + 1,
            )
            self._check_calendar(changed, problems)
            now = self._time.now()
            await store.replace_calendar(session, tenant_id=tenant_id, spec=changed, at=now)
            return holiday, Stored(changed, current.created_at, now)

        return await once(self._db, requests, tenant_id, answer, work)

    async def remove_holiday(
        self,
        *,
        tenant_id: str,
        calendar_id: str,
        holiday_id: str,
        answer: IdempotentReply[Stored[CalendarSpec], M],
    ) -> M:
        """Remove a holiday from a calendar."""

        async def work(session: AsyncSession) -> Stored[CalendarSpec]:
            current = await self._calendar(session, tenant_id, calendar_id, lock=True)
            kept = tuple(h for h in current.value.holidays if h.id != holiday_id)
            if len(kept) == len(current.value.holidays):
                raise HolidayNotFound(f"holiday {holiday_id!r} not found")
            changed = dataclasses.replace(
                current.value, holidays=kept, version=current.value.version + 1
            )
            now = self._time.now()
            await store.replace_calendar(session, tenant_id=tenant_id, spec=changed, at=now)
            return Stored(changed, current.created_at, now)

        return await once(self._db, requests, tenant_id, answer, work)

    # --- policies ------------------------------------------------------------------------------

    async def _check_policy(
        self,
        session: AsyncSession,
        tenant_id: str,
        spec: PolicySpec,
        problems: Sequence[Violation],
    ) -> None:
        bad = [*problems, *spec.validate()]
        if not any(t.first_response or t.resolution for t in spec.targets):
            # A policy without a target would start clocks that can never be due.
            bad.append(Violation("sla_policy.targets", "at least one target is required"))
        if spec.calendar_id and (
            not _is_uuid(spec.calendar_id)
            or await store.get_calendar(session, tenant_id=tenant_id, calendar_id=spec.calendar_id)
            is None
        ):
            bad.append(Violation("sla_policy.calendar_id", "no such calendar"))
        if bad:
            raise SlaInvalid.of(bad)

    async def create_policy(
        self,
        *,
        tenant_id: str,
        spec: PolicySpec,
        problems: Sequence[Violation],
        answer: IdempotentReply[Stored[PolicySpec], M],
    ) -> M:
        """Create a policy; empty thresholds and pause statuses take the defaults."""
        spec = dataclasses.replace(
            spec,
            thresholds=spec.thresholds or DEFAULT_THRESHOLD_RULES,
            pause_statuses=spec.pause_statuses or DEFAULT_PAUSE_STATUSES,
            first_response=spec.first_response or FirstResponse.PUBLIC_HUMAN_COMMENT,
            version=1,
        )

        async def work(session: AsyncSession) -> Stored[PolicySpec]:
            await self._check_policy(session, tenant_id, spec, problems)
            await check_thresholds(
                self._references, tenant_id=tenant_id, thresholds=spec.thresholds
            )
            now = self._time.now()
            try:
                await store.insert_policy(session, tenant_id=tenant_id, spec=spec, at=now)
            except IntegrityError as exc:
                raise ScopeTaken("another policy already has this scope") from exc
            return Stored(spec, now, now)

        return await once(self._db, requests, tenant_id, answer, work)

    @staticmethod
    async def _policy(
        session: AsyncSession, tenant_id: str, policy_id: str, *, lock: bool = False
    ) -> Stored[PolicySpec]:
        found = (
            await store.get_policy(session, tenant_id=tenant_id, policy_id=policy_id, lock=lock)
            if _is_uuid(policy_id)
            else None
        )
        if found is None:
            raise PolicyNotFound(f"policy {policy_id!r} not found")
        return found

    async def get_policy(self, *, tenant_id: str, policy_id: str) -> Stored[PolicySpec]:
        """One policy; NOT_FOUND for an unknown id or another tenant's."""
        async with self._db.transaction(tenant_id) as session:
            return await self._policy(session, tenant_id, policy_id)

    async def list_policies(
        self,
        *,
        tenant_id: str,
        scope: ScopeKind,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Stored[PolicySpec]]:
        """Policies in creation order after a keyset position."""
        async with self._db.transaction(tenant_id) as session:
            return await store.list_policies(
                session, tenant_id=tenant_id, scope=scope, after=after, limit=limit
            )

    async def update_policy(
        self,
        *,
        tenant_id: str,
        patch: PolicySpec,
        fields: Iterable[str],
        etag: str,
        problems: Sequence[Violation],
        answer: IdempotentReply[Stored[PolicySpec], M],
    ) -> M:
        """Change the named fields; running clocks keep their snapshot."""
        names = set(fields)

        async def work(session: AsyncSession) -> Stored[PolicySpec]:
            if "thresholds" in names:  # asked before any row is locked
                await check_thresholds(
                    self._references, tenant_id=tenant_id, thresholds=patch.thresholds
                )
            current = await self._policy(session, tenant_id, patch.id, lock=True)
            _check_etag(etag, current.value.version)
            changed = dataclasses.replace(
                current.value,
                **{n: getattr(patch, n) for n in names},
                version=current.value.version + 1,
            )
            await self._check_policy(session, tenant_id, changed, problems)
            now = self._time.now()
            try:
                await store.replace_policy(session, tenant_id=tenant_id, spec=changed, at=now)
            except IntegrityError as exc:
                raise ScopeTaken("another policy already has this scope") from exc
            return Stored(changed, current.created_at, now)

        return await once(self._db, requests, tenant_id, answer, work)

    async def delete_policy(
        self, *, tenant_id: str, policy_id: str, etag: str, answer: IdempotentReply[None, M]
    ) -> M:
        """Delete a policy; running clocks keep their snapshot."""

        async def work(session: AsyncSession) -> None:
            current = await self._policy(session, tenant_id, policy_id, lock=True)
            _check_etag(etag, current.value.version)
            await store.delete_policy(session, tenant_id=tenant_id, policy_id=policy_id)

        return await once(self._db, requests, tenant_id, answer, work)

    # --- queries on clocks ---------------------------------------------------------------------

    async def ticket_sla(
        self, *, tenant_id: str, ticket_id: str
    ) -> tuple[TicketView, list[ClockRecord], datetime]:
        """A ticket's projection and clocks, and the instant to report them at."""
        number = ticket_id.removeprefix("#")
        async with self._db.transaction(tenant_id) as session:
            if _is_uuid(ticket_id):
                view = await store.get_ticket(session, tenant_id=tenant_id, ticket_id=ticket_id)
            elif number.isdigit():
                view = await store.get_ticket_by_number(
                    session, tenant_id=tenant_id, number=int(number)
                )
            else:
                view = None
            if view is None:
                raise TicketSlaNotFound(f"ticket {ticket_id!r} has no SLA")
            return view, await store.get_clocks(session, view=view), self._time.now()

    async def breaches(
        self,
        *,
        tenant_id: str,
        filters: BreachFilter,
        after: tuple[datetime, str, str] | None,
        limit: int,
    ) -> list[BreachView]:
        """Breached targets, newest first."""
        async with self._db.transaction(tenant_id) as session:
            return await store.list_breaches(
                session, tenant_id=tenant_id, filters=filters, after=after, limit=limit
            )

    async def audit(
        self, *, tenant_id: str, ticket_id: str, after_seq: int, limit: int
    ) -> list[tuple[int, AuditEntry]]:
        """A ticket's clock audit log, oldest first."""
        if not _is_uuid(ticket_id):
            raise TicketSlaNotFound(f"ticket {ticket_id!r} has no SLA")
        async with self._db.transaction(tenant_id) as session:
            if await store.get_ticket(session, tenant_id=tenant_id, ticket_id=ticket_id) is None:
                raise TicketSlaNotFound(f"ticket {ticket_id!r} has no SLA")
            return await store.list_audit(
                session, tenant_id=tenant_id, ticket_id=ticket_id, after_seq=after_seq, limit=limit
            )

    # --- events in -----------------------------------------------------------------------------

    async def on_tenant_zone(self, session: AsyncSession, tenant_id: str, zone: str) -> None:
        """Remember the tenant's zone for its default calendar."""
        await store.save_tenant_zone(session, tenant_id=tenant_id, zone=zone)

    async def on_ticket_change(
        self, session: AsyncSession, tenant_id: str, change: TicketChange
    ) -> None:
        """Move a ticket's clocks for one ticket event (inside the consumer's transaction)."""
        await self.on_ticket_changes(session, [(tenant_id, change, None)])

    async def on_ticket_changes(
        self, session: AsyncSession, changes: Sequence[IncomingChange]
    ) -> None:
        """Move clocks for a batch of ticket events, in order, inside one transaction.

        The batch's tickets and clocks are read (and locked, in key order) in two statements,
        policies and zones for new tickets once per tenant, and every write at the end in
        one statement per table; a change that moves nothing writes nothing but the ticket's
        facts. Each event's outgoing events carry its own trace headers (None: current).
        """
        if not changes:
            return
        keys = sorted({(tenant_id, change.ticket.ticket_id) for tenant_id, change, _ in changes})
        state = await store.lock_and_read_batch(session, keys=keys)
        loaded = state.views
        views: dict[tuple[str, str], TicketView] = dict(loaded)
        clocks, zones, candidates = state.clocks, state.zones, state.policies
        calendars: dict[tuple[str, str], CalendarSpec | None] = {}
        created: dict[tuple[str, str], None] = {}
        batch = _Batch()
        headers: list[dict[str, str] | None] = []
        for tenant_id, change, trace_headers in changes:
            key = (tenant_id, change.ticket.ticket_id)
            view = views.get(key)
            first_envelope = len(batch.envelopes)
            first_clock = len(batch.clocks)
            first_stop = len(batch.stopped)
            if view is None:
                view, records = await self._start_in_batch(
                    session,
                    tenant_id,
                    change,
                    batch,
                    zone=zones.get(tenant_id) or DEFAULT_ZONE,
                    candidates=candidates.get(tenant_id, []),
                    calendars=calendars,
                )
                created[key] = None
                views[key] = view
            else:
                records = clocks[key]
            if change.kind is not ChangeKind.OPENED:
                view = await self._apply(session, view, list(records), change, batch)
                views[key] = view
            clocks[key] = _after_change(
                records, batch.clocks[first_clock:], batch.stopped[first_stop:]
            )
            headers.extend([trace_headers] * (len(batch.envelopes) - first_envelope))
        # One row per clock: the last state each touched clock reached in this batch.
        touched = {(t, r.ticket_id, r.kind) for t, r in batch.clocks}
        batch.clocks = [
            (tenant_id, record)
            for (tenant_id, ticket_id), records in clocks.items()
            for record in records
            if (tenant_id, ticket_id, record.kind) in touched
        ]
        # Every write of the batch travels pipelined: two round trips (the started
        # tickets' ids, the outbox ids) instead of one per statement.
        async with pipelined(session):
            inserted = await store.insert_tickets(session, views=[views[k] for k in created])
            if len(inserted) != len(created):
                raise ConcurrentStart("another handler started one of these tickets first")
            await store.save_tickets(
                session,
                views=[v for k, v in views.items() if k in loaded and v != loaded[k]],
            )
            await self._flush(session, batch, headers)

    async def _start_in_batch(
        self,
        session: AsyncSession,
        tenant_id: str,
        change: TicketChange,
        batch: _Batch,
        *,
        zone: str,
        candidates: Sequence[PolicySpec],
        calendars: dict[tuple[str, str], CalendarSpec | None],
    ) -> tuple[TicketView, list[ClockRecord]]:
        """The projection and clocks of a ticket new to the sla service (not yet inserted)."""
        facts = change.ticket
        policy = select_policy(candidates, client_id=facts.client_id, queue=facts.queue)
        policy = policy or default_policy()
        calendar: CalendarSpec | None = None
        if policy.calendar_id:
            cache_key = (tenant_id, policy.calendar_id)
            if cache_key not in calendars:
                found = await store.get_calendar(
                    session, tenant_id=tenant_id, calendar_id=policy.calendar_id
                )
                calendars[cache_key] = found.value if found else None
            calendar = calendars[cache_key]
        snapshot = Snapshot(policy, calendar or default_calendar(zone))
        view = TicketView(tenant_id=tenant_id, facts=facts, closed=False, snapshot=snapshot)
        at = facts.opened_at
        paused = change.kind is ChangeKind.OPENED and facts.status in policy.pause_statuses
        records: list[ClockRecord] = []
        for kind in KINDS:
            record = self.new_clock(view, kind, facts.priority, at, paused=paused)
            if record is not None:
                records.append(record)
                batch.clocks.append((tenant_id, record))
                batch.entry(
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
        batch.envelopes.append(events.started(view, records, self._time.now()))
        return view, records

    @staticmethod
    def new_clock(
        view: TicketView, kind: TargetKind, priority: int, at: datetime, *, paused: bool
    ) -> ClockRecord | None:
        """A fresh clock of ``kind`` for ``priority`` under the ticket's snapshot, if targeted."""
        policy = view.snapshot.policy
        targets = policy.targets_for(priority)
        target = targets.of(kind) if targets else None
        if target is None:
            return None
        clock = Clock.start(
            kind=kind,
            target=target.duration,
            calendar=view.snapshot.business,
            at=at,
            business_time=target.business_time,
            thresholds=policy.percents(kind),
            paused=paused,
        )
        return ClockRecord(ticket_id=view.facts.ticket_id, clock=clock, fence=1)

    async def _apply(
        self,
        session: AsyncSession,
        view: TicketView,
        records: list[ClockRecord],
        change: TicketChange,
        batch: _Batch,
    ) -> TicketView:
        policy = view.snapshot.policy
        newer = change.ticket.updated_at >= view.facts.updated_at
        before_facts = view.facts
        if newer:
            view = dataclasses.replace(
                view,
                facts=dataclasses.replace(
                    change.ticket,
                    reopen_count=max(change.ticket.reopen_count, before_facts.reopen_count),
                ),
            )
        by_kind = {r.kind: r for r in records}
        tracker = _Tracker(self, view, by_kind, change, batch)

        if change.is_first_response(policy.first_response) and view.first_response_at is None:
            view = dataclasses.replace(view, first_response_at=change.at)
            tracker.view = view
            tracker.complete(TargetKind.FIRST_RESPONSE, "first response")

        if change.kind is ChangeKind.UPDATED and newer and not view.closed:
            if view.facts.priority != before_facts.priority:
                tracker.retarget(before_facts.priority, view.facts.priority)
            wants_pause = view.facts.status in policy.pause_statuses
            was_paused = before_facts.status in policy.pause_statuses
            if wants_pause != was_paused or view.facts.status != before_facts.status:
                cause = (
                    f"status {status_name(before_facts.status)} -> {status_name(view.facts.status)}"
                )
                if wants_pause:
                    tracker.pause_all(cause)
                else:
                    tracker.resume_all(cause)
        elif change.kind is ChangeKind.CLOSED:
            if change.ticket.reopen_count >= before_facts.reopen_count and not view.closed:
                cause = "ticket closed automatically" if change.auto else "ticket closed"
                tracker.complete(TargetKind.FIRST_RESPONSE, f"{cause} (counts as response)")
                tracker.complete(TargetKind.RESOLUTION, cause)
                view = dataclasses.replace(view, closed=True)
        elif (
            change.kind is ChangeKind.REOPENED
            and view.closed
            and change.ticket.reopen_count > before_facts.reopen_count
        ):
            view = dataclasses.replace(view, closed=False)
            tracker.view = view
            tracker.reopen(paused=change.ticket.status in policy.pause_statuses)
        tracker.view = view
        tracker.finish()
        return view

    async def _flush(
        self,
        session: AsyncSession,
        batch: _Batch,
        trace_headers: Sequence[dict[str, str] | None] | None = None,
    ) -> None:
        for tenant_id, ticket_id, kind in dict.fromkeys(batch.stopped):
            await store.delete_clock(session, tenant_id=tenant_id, ticket_id=ticket_id, kind=kind)
        await store.save_clocks(session, records=batch.clocks)
        await store.set_timers(session, records=batch.clocks)
        await store.insert_audit(session, entries=batch.audit)
        if trace_headers is not None and any(h is not None for h in trace_headers):
            current = inject_headers()
            await self._outbox.add(
                session,
                *batch.envelopes,
                trace_headers=[current if h is None else h for h in trace_headers],
            )
        else:
            await self._outbox.add(session, *batch.envelopes)
        dues = [nxt[1] for _, r in batch.clocks if (nxt := r.clock.next_threshold()) is not None]
        if dues and self._timer_listeners:
            earliest = min(dues)
            for listener in self._timer_listeners:
                after_commit(session, _bind(listener, earliest))

    # --- timers --------------------------------------------------------------------------------

    async def fire_due(self, *, limit: int = 500) -> FireResult:
        """Claim due timers across tenants and fire each due threshold exactly once.

        The timer rows and their clocks are locked with SKIP LOCKED in this transaction, and
        a timer whose fence differs from its clock's is stale and only rescheduled, so two
        replicas (or a late worker) never fire one threshold twice.
        """
        now = self._time.now()
        batch = _Batch()
        lateness: list[float] = []
        async with self._db.system_transaction() as session:
            due = await store.claim_due_timers(session, now=now, limit=limit)
            if not due:
                return FireResult(0, 0)
            views = await store.tickets_by_id(
                session, keys=list({(t.tenant_id, t.ticket_id) for t in due})
            )
            for timer in due:
                view = views.get((timer.tenant_id, timer.ticket_id))
                if view is None:
                    await store.delete_timer_if(
                        session,
                        tenant_id=timer.tenant_id,
                        ticket_id=timer.ticket_id,
                        kind=timer.kind,
                        fence=timer.fence,
                    )
                    continue
                lateness.extend(self._fire(view, timer, now, batch))
            await self._flush(session, batch)
        return FireResult(len(due), len(lateness), tuple(lateness))

    def _fire(self, view: TicketView, timer: DueTimer, now: datetime, batch: _Batch) -> list[float]:
        record = ClockRecord(
            ticket_id=timer.ticket_id,
            clock=clock_from_json(timer.clock_data, view.snapshot.business),
            fence=timer.clock_fence,
            breached_at=timer.breached_at,
            breach_due_at=timer.breach_due_at,
            met_at=timer.met_at,
        )
        lateness: list[float] = []
        if timer.fence == timer.clock_fence:
            policy = view.snapshot.policy
            while (nxt := record.clock.next_threshold()) is not None and nxt[1] <= now:
                percent, instant = nxt
                late = now - instant > self._late_after
                before = record
                record = dataclasses.replace(record, clock=record.clock.mark_fired(percent))
                actions = policy.actions(record.kind, percent)
                if percent >= 100:
                    record = dataclasses.replace(record, breached_at=now, breach_due_at=instant)
                    batch.envelopes.append(
                        events.breached(
                            view, record.kind, due=instant, recorded=now, late=late, actions=actions
                        )
                    )
                else:
                    batch.envelopes.append(
                        events.threshold(
                            view,
                            record.kind,
                            percent=percent,
                            due=instant,
                            fired=now,
                            late=late,
                            target_due=record.clock.due_at,
                            actions=actions,
                        )
                    )
                batch.entry(
                    view.tenant_id,
                    record.ticket_id,
                    AuditKind.BREACHED if percent >= 100 else AuditKind.THRESHOLD,
                    target=record.kind,
                    cause=f"{percent}% of the target used" + (" (fired late)" if late else ""),
                    at=instant,
                    before=before,
                    after=record,
                    percent=percent,
                    late=late,
                )
                lateness.append((now - instant).total_seconds())
        batch.clocks.append((view.tenant_id, dataclasses.replace(record, fence=record.fence + 1)))
        return lateness

    async def next_due(self) -> datetime | None:
        """The earliest due instant of any timer, across tenants."""
        async with self._db.system_transaction() as session:
            return await store.earliest_timer(session)


class _Tracker:
    """Applies clock transitions for one ticket change and records audit and events."""

    def __init__(
        self,
        service: SlaService,
        view: TicketView,
        records: dict[TargetKind, ClockRecord],
        change: TicketChange,
        batch: _Batch,
    ) -> None:
        self.service = service
        self.view = view
        self.records = records
        self.change = change
        self.batch = batch
        self.touched: set[TargetKind] = set()
        self.stopped: set[TargetKind] = set()
        self.paused: list[TargetKind] = []
        self.resumed: list[TargetKind] = []

    def _at(self, clock: Clock) -> datetime:
        # Out-of-order delivery: never move a clock back before its last transition.
        return max(self.change.at, clock.last_transition_at)

    def _audit(
        self,
        kind: AuditKind,
        before: ClockRecord | None,
        after: ClockRecord | None,
        cause: str,
        at: datetime,
        target: TargetKind,
    ) -> None:
        self.batch.entry(
            self.view.tenant_id,
            self.view.facts.ticket_id,
            kind,
            target=target,
            cause=cause,
            at=at,
            event_id=self.change.event_id,
            before=before,
            after=after,
        )

    def _set(self, record: ClockRecord) -> None:
        self.records[record.kind] = record
        self.touched.add(record.kind)

    def complete(self, kind: TargetKind, cause: str) -> None:
        """Complete ``kind`` (met or breached) at the change's instant."""
        record = self.records.get(kind)
        if record is None or record.clock.is_terminal:
            return
        at = self._at(record.clock)
        try:
            done = dataclasses.replace(record, clock=record.clock.complete(at), met_at=at)
        except ClockError:
            log.warning("clock transition refused", exc_info=True)
            return
        now = self.service.time.now()
        after_breach = done.clock.state is ClockState.BREACHED
        if after_breach and done.breached_at is None:
            # Past due but no timer recorded it (no scheduler ran): record the breach now.
            done = dataclasses.replace(done, breached_at=at, breach_due_at=done.clock.due_at)
            self.batch.envelopes.append(
                events.breached(
                    self.view, kind, due=done.clock.due_at, recorded=now, late=True, actions=()
                )
            )
            self._audit(AuditKind.BREACHED, record, done, cause, at, kind)
        self._set(done)
        self._audit(AuditKind.MET, record, done, cause, at, kind)
        self.batch.envelopes.append(
            events.met(self.view, done, at=at, after_breach=done.breached_at is not None)
        )

    def pause_all(self, cause: str) -> None:
        """Pause every running clock."""
        for kind, record in list(self.records.items()):
            if record.clock.state is not ClockState.RUNNING:
                continue
            at = self._at(record.clock)
            paused = dataclasses.replace(record, clock=record.clock.pause(at))
            self._set(paused)
            self.paused.append(kind)
            self._audit(AuditKind.PAUSED, record, paused, cause, at, kind)

    def resume_all(self, cause: str) -> None:
        """Resume every paused clock."""
        for kind, record in list(self.records.items()):
            if record.clock.state is not ClockState.PAUSED:
                continue
            at = self._at(record.clock)
            resumed = dataclasses.replace(record, clock=record.clock.resume(at))
            self._set(resumed)
            self.resumed.append(kind)
            self._audit(AuditKind.RESUMED, record, resumed, cause, at, kind)

    def reopen(self, *, paused: bool) -> None:
        """Resume the resolution clock of a reopened ticket."""
        record = self.records.get(TargetKind.RESOLUTION)
        if record is None or not record.clock.is_terminal:
            return
        at = self._at(record.clock)
        reopened = dataclasses.replace(
            record, clock=record.clock.reopen(at, paused=paused), met_at=None
        )
        self._set(reopened)
        self._audit(AuditKind.RESUMED, record, reopened, "ticket reopened", at, record.kind)
        if not paused:
            self.resumed.append(record.kind)

    def retarget(self, old: int, new: int) -> None:
        """Apply the targets of priority ``new`` (a priority change), audited."""
        cause = f"priority {priority_name(old)} -> {priority_name(new)}"
        policy = self.view.snapshot.policy
        targets = policy.targets_for(new)
        for kind in KINDS:
            target = targets.of(kind) if targets else None
            record = self.records.get(kind)
            if record is not None and record.clock.is_terminal:
                continue
            if record is None:
                if target is None or (
                    kind is TargetKind.FIRST_RESPONSE and self.view.first_response_at is not None
                ):
                    continue
                at = self.change.at
                paused = self.view.facts.status in policy.pause_statuses
                created = self.service.new_clock(self.view, kind, new, at, paused=paused)
                if created is not None:
                    self._set(created)
                    self._audit(AuditKind.STARTED, None, created, cause, at, kind)
                continue
            at = self._at(record.clock)
            if target is None:
                self.records.pop(kind)
                self.stopped.add(kind)
                self._audit(AuditKind.STOPPED, record, None, cause, at, kind)
                continue
            changed = dataclasses.replace(
                record,
                clock=record.clock.retarget(
                    target.duration, at, business_time=target.business_time
                ),
            )
            self._set(changed)
            self._audit(AuditKind.RECOMPUTED, record, changed, cause, at, kind)

    def finish(self) -> None:
        """Stage the changed clocks and the pause/resume events."""
        at = self.change.at
        if self.paused:
            self.batch.envelopes.append(events.paused(self.view, self.paused, at))
        if self.resumed:
            self.batch.envelopes.append(
                events.resumed(self.view, [self.records[k] for k in self.resumed], at)
            )
        for kind in self.touched:
            if kind in self.records:
                record = self.records[kind]
                self.batch.clocks.append(
                    (self.view.tenant_id, dataclasses.replace(record, fence=record.fence + 1))
                )
        self.batch.stopped.extend(
            (self.view.tenant_id, self.view.facts.ticket_id, k) for k in self.stopped
        )


def _bind(listener: Callable[[datetime], None], due: datetime) -> Callable[[], None]:
    def call() -> None:
        listener(due)

    return call


def _check_etag(etag: str, version: int) -> None:
    if etag and etag != str(version):
        raise EtagMismatch(f"etag {etag!r} is stale (current {version})")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
