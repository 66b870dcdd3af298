"""Ticket use cases: each API call is one transaction; alert and SLA handlers join the batch's."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets import domain, domain_order, ordering, series_log, store
from services.tickets import events as ev
from services.tickets.domain import (
    SYSTEM_ACTOR,
    AuthorKind,
    Cause,
    CloseReason,
    Comment,
    Escalation,
    FieldChange,
    HistoryEntry,
    HistoryKind,
    Priority,
    RoutedAlert,
    Source,
    Status,
    StatusPlan,
    TenantSettings,
    Ticket,
    TimeEntry,
    TransitionError,
    TriggerAction,
    Visibility,
)
from services.tickets.domain_order import Logged, logged, position
from services.tickets.errors import EtagMismatch, TicketNotFound, TicketStateConflict
from services.tickets.models import requests
from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime import (
    Database,
    IdempotentReply,
    InvalidArgument,
    Outbox,
    bind_tenants,
    inject_headers,
    new_id,
    pipelined,
)

R = TypeVar("R")
M = TypeVar("M", bound=Message)
Clock = Callable[[], datetime]
TicketRef = str | int


def utc_now() -> datetime:
    """The current instant in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person (user token) or a Triage service."""

    subject: str
    is_human: bool

    @property
    def cause(self) -> Cause:
        """The change cause of this actor's edits."""
        return Cause.HUMAN if self.is_human else Cause.SYSTEM


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of results and the position after its last row (None on the last page)."""

    items: list[R]
    next_position: Any


class _Staged:
    """Writes of the alert batch's occurrence path, held until :meth:`flush`."""

    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self._session = session
        self._outbox = outbox
        self.tickets: dict[str, Ticket] = {}
        #: Tickets opened in the batch, inserted (in their latest state) at flush.
        self.new: dict[str, Ticket] = {}
        self.history: list[tuple[str, HistoryEntry]] = []
        self.comments: list[tuple[str, Comment]] = []
        self.events: list[Envelope] = []
        self.headers: list[dict[str, str]] = []
        #: Ticket numbers allocated ahead for the tickets this batch will open, by tenant.
        self.numbers: dict[str, list[int]] = {}
        #: Dedup keys whose trigger log is cleared (after opening their ticket).
        self.cleared: dict[tuple[str, str], None] = {}
        #: Series log entries of the batch's alerts, by tenant.
        self.log: list[tuple[str, Logged]] = []

    def save(self, ticket: Ticket) -> None:
        """Write ``ticket`` back at flush (its latest state only)."""
        if ticket.id in self.new:
            self.new[ticket.id] = ticket
        else:
            self.tickets[ticket.id] = ticket

    def event(self, envelope: Envelope) -> None:
        """Stage ``envelope`` with the trace context current now (the alert's own)."""
        self.events.append(envelope)
        self.headers.append(inject_headers())

    async def flush(self) -> None:
        """Write everything staged, one statement per table, in the order it was staged.

        The statements travel pipelined: two round trips (the new tickets' count, the
        outbox ids) instead of one per table.
        """
        async with pipelined(self._session):
            await self._write()

    async def _write(self) -> None:
        if self.tickets:
            await store.save_tickets(self._session, list(self.tickets.values()))
            self.tickets.clear()
        if self.new:
            # After the updates: a ticket closed in the batch gave up its key first.
            inserted = await store.insert_tickets(self._session, list(self.new.values()))
            if inserted != len(self.new):
                # Unreachable while the batch holds its keys' locks.
                raise RuntimeError("an open ticket already holds the key of a new ticket")
            self.new.clear()
        if self.comments:
            await store.add_comments_many(self._session, self.comments)
            self.comments = []
        if self.history:
            await store.add_history_many(self._session, self.history)
            self.history = []
        if self.cleared:
            await store.clear_triggers_many(self._session, list(self.cleared))
            self.cleared.clear()
        if self.log:
            await series_log.add_many(self._session, self.log)
            self.log = []
        if self.events:
            await self._outbox.add(self._session, *self.events, trace_headers=self.headers)
            self.events, self.headers = [], []


class _SeriesTickets:
    """The open tickets of a batch's reset series, read once and kept current in memory.

    Holds, for each (tenant, series) asked up front, the newest open ticket linked to it as
    the database had it (locked), and the latest version of every ticket the batch has
    written since. :meth:`find` answers only when that is enough to know what
    ``store.open_ticket_for_series`` would return now.
    """

    def __init__(
        self, asked: set[tuple[str, str]], newest: Mapping[tuple[str, str], Ticket]
    ) -> None:
        self._asked = asked
        self._newest = newest
        self._latest: dict[str, Ticket] = {}

    def note(self, ticket: Ticket | None) -> None:
        """Remember ``ticket`` as the batch left it (opened, changed, closed)."""
        if ticket is not None:
            self._latest[ticket.id] = ticket

    def find(self, tenant_id: str, series_key: str) -> tuple[bool, Ticket | None]:
        """(known, ticket): the newest open ticket linked to the series; not known when the
        database must be asked."""
        if (tenant_id, series_key) not in self._asked:
            return False, None
        candidates = [
            t
            for t in self._latest.values()
            if t.tenant_id == tenant_id and t.is_open and series_key in t.linked_series_keys
        ]
        newest = self._newest.get((tenant_id, series_key))
        if newest is not None:
            newest = self._latest.get(newest.id, newest)
            if not newest.is_open or series_key not in newest.linked_series_keys:
                # It no longer counts; the next newest at load time was never read.
                return False, None
            candidates.append(newest)
        if not candidates:
            return True, None
        return True, max(candidates, key=_created)


def _created(ticket: Ticket) -> datetime:
    return ticket.created_at or datetime.min.replace(tzinfo=UTC)


class TicketService:
    """The tickets service's use cases."""

    def __init__(self, db: Database, outbox: Outbox, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._outbox = outbox
        self._clock = clock

    # --- queries -----------------------------------------------------------------------

    async def get_ticket(self, *, tenant_id: str, ref: TicketRef) -> Ticket:
        """One ticket by id or number."""
        async with self._db.transaction(tenant_id) as session:
            return await self._find(session, tenant_id, ref)

    async def list_tickets(
        self,
        *,
        tenant_id: str,
        where: store.TicketFilter,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> Page[Ticket]:
        """A page of tickets, newest first."""
        async with self._db.transaction(tenant_id) as session:
            rows = await store.list_tickets(
                session, tenant_id=tenant_id, where=where, after=after, limit=limit + 1
            )
        items = rows[:limit]
        last = items[-1] if len(rows) > limit else None
        position = None if last is None else (last.created_at, last.id)
        return Page(items, position)

    async def list_comments(
        self,
        *,
        tenant_id: str,
        ref: TicketRef,
        visibility: Visibility,
        after_seq: int,
        limit: int,
    ) -> Page[Comment]:
        """A page of a ticket's comments, oldest first."""
        async with self._db.transaction(tenant_id) as session:
            ticket = await self._find(session, tenant_id, ref)
            rows = await store.list_comments(
                session,
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                visibility=visibility,
                after_seq=after_seq,
                limit=limit + 1,
            )
        return Page(rows[:limit], rows[limit - 1].seq if len(rows) > limit else None)

    async def list_time_entries(
        self, *, tenant_id: str, ref: TicketRef, after_seq: int, limit: int
    ) -> Page[TimeEntry]:
        """A page of a ticket's time entries, oldest first."""
        async with self._db.transaction(tenant_id) as session:
            ticket = await self._find(session, tenant_id, ref)
            rows = await store.list_time_entries(
                session,
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                after_seq=after_seq,
                limit=limit + 1,
            )
        return Page(rows[:limit], rows[limit - 1].seq if len(rows) > limit else None)

    async def list_history(
        self, *, tenant_id: str, ref: TicketRef, after_seq: int, limit: int
    ) -> Page[HistoryEntry]:
        """A page of a ticket's history, oldest first."""
        async with self._db.transaction(tenant_id) as session:
            ticket = await self._find(session, tenant_id, ref)
            rows = await store.list_history(
                session,
                tenant_id=tenant_id,
                ticket_id=ticket.id,
                after_seq=after_seq,
                limit=limit + 1,
            )
        return Page(rows[:limit], rows[limit - 1].seq if len(rows) > limit else None)

    async def get_settings(self, *, tenant_id: str) -> TenantSettings:
        """The tenant's ticket settings."""
        async with self._db.transaction(tenant_id) as session:
            return await store.get_settings(session, tenant_id=tenant_id)

    async def put_settings(self, *, tenant_id: str, settings: TenantSettings) -> None:
        """Replace the tenant's ticket settings."""
        if domain.Status.CLOSED not in settings.closed_statuses:
            raise InvalidArgument.field("closed_statuses", "must include CLOSED")
        async with self._db.transaction(tenant_id) as session:
            await store.put_settings(session, tenant_id=tenant_id, settings=settings)

    # --- mutations by people and tools ----------------------------------------------------

    async def create_ticket(
        self, *, tenant_id: str, actor: Actor, draft: Ticket, reply: IdempotentReply[Ticket, M]
    ) -> M:
        """Open a manual ticket."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            settings = await store.get_settings(session, tenant_id=tenant_id)
            if settings.is_closed(draft.status):
                raise InvalidArgument.field("ticket.status", "a new ticket must be open")
            now = self._clock()
            number = await self._next_number(tenant_id)
            ticket = replace(
                draft,
                id=new_id(),
                tenant_id=tenant_id,
                number=number,
                source=Source.MANUAL,
                dedup_key=None,
                created_at=now,
                updated_at=now,
                closed_at=None,
                version=1,
            )
            await store.insert_ticket(session, ticket)
            await self._history(
                session, ticket, HistoryKind.CREATED, actor.cause, actor.subject, detail="manual"
            )
            await self._outbox.add(session, ev.opened(ticket))
            return await reply.answer(session, requests, tenant_id, ticket)

    async def update_ticket(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        etag: str,
        values: Mapping[str, Any],
        reply: IdempotentReply[Ticket, M],
    ) -> M:
        """Change the fields in ``values``; a closing status goes through the close path."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            ticket = await self._find(session, tenant_id, ref, for_update=True)
            _check_etag(ticket, etag)
            settings = await store.get_settings(session, tenant_id=tenant_id)
            fields = {k: v for k, v in values.items() if k != "status"}
            plan = StatusPlan.NOOP
            target: Status | None = values.get("status")
            if target is not None:
                try:
                    plan = domain.plan_status_change(
                        ticket.status, target, is_open=ticket.is_open, settings=settings
                    )
                except TransitionError as exc:
                    raise InvalidArgument.field("ticket.status", str(exc)) from exc
                if plan is StatusPlan.SET:
                    fields["status"] = target
            result = await self._update(session, ticket, fields, actor.cause, actor.subject)
            if plan is StatusPlan.CLOSE:
                if actor.is_human and not result.human_touched:
                    result = await self._update(
                        session, result, {"human_touched": True}, actor.cause, actor.subject
                    )
                result = await self._close(
                    session,
                    result,
                    status=domain.closing_status(target, settings),
                    reason=CloseReason.MANUAL if actor.is_human else CloseReason.SYSTEM,
                    cause=actor.cause,
                    actor=actor.subject,
                    reset_alert=result.reset_in_rmm_on_close,
                    auto=False,
                )
            return await reply.answer(session, requests, tenant_id, result)

    async def add_comment(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        body: str,
        visibility: Visibility,
        author_kind: AuthorKind,
        reply: IdempotentReply[tuple[Comment, Ticket], M],
    ) -> M:
        """Add a comment; a person's comment is a human touch."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            ticket = await self._find(session, tenant_id, ref, for_update=True)
            ticket, comment = await self._comment(
                session, ticket, body, visibility, author_kind, actor.subject
            )
            return await reply.answer(session, requests, tenant_id, (comment, ticket))

    async def add_time_entry(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        duration: timedelta,
        start_at: datetime | None,
        note: str,
        billable: bool,
        reply: IdempotentReply[tuple[TimeEntry, Ticket], M],
    ) -> M:
        """Log time on a ticket (a human touch)."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            ticket = await self._find(session, tenant_id, ref, for_update=True)
            now = self._clock()
            entry = await store.add_time_entry(
                session,
                tenant_id=tenant_id,
                entry=TimeEntry(
                    id=new_id(),
                    ticket_id=ticket.id,
                    duration=duration,
                    start_at=start_at,
                    note=note,
                    billable=billable,
                    author=actor.subject,
                    created_at=now,
                ),
            )
            after = replace(
                ticket,
                human_touched=ticket.human_touched or actor.is_human,
                version=ticket.version + 1,
                updated_at=now,
            )
            await store.save_ticket(session, after)
            await self._history(
                session,
                after,
                HistoryKind.TIME_LOGGED,
                actor.cause,
                actor.subject,
                detail=f"{entry.id} {int(duration.total_seconds())}s",
            )
            if after.human_touched != ticket.human_touched:
                await self._outbox.add(
                    session,
                    ev.updated(
                        ticket,
                        after,
                        paths=["human_touched"],
                        cause=actor.cause,
                        actor=actor.subject,
                    ),
                )
            return await reply.answer(session, requests, tenant_id, (entry, after))

    async def close_ticket(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        etag: str,
        resolution: str,
        reset_alert: bool | None,
        reply: IdempotentReply[Ticket, M],
    ) -> M:
        """Close a ticket through the close path (emits ``ticket.closed``)."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            ticket = await self._find(session, tenant_id, ref, for_update=True)
            _check_etag(ticket, etag)
            if not ticket.is_open:
                raise TicketStateConflict("the ticket is already closed")
            if resolution:
                ticket, _ = await self._comment(
                    session,
                    ticket,
                    resolution,
                    Visibility.PUBLIC,
                    AuthorKind.HUMAN if actor.is_human else AuthorKind.SYSTEM,
                    actor.subject,
                )
            closed = await self._close(
                session,
                ticket,
                status=Status.CLOSED,
                reason=CloseReason.MANUAL if actor.is_human else CloseReason.SYSTEM,
                cause=actor.cause,
                actor=actor.subject,
                reset_alert=ticket.reset_in_rmm_on_close if reset_alert is None else reset_alert,
                auto=False,
            )
            return await reply.answer(session, requests, tenant_id, closed)

    async def reopen_ticket(
        self,
        *,
        tenant_id: str,
        actor: Actor,
        ref: TicketRef,
        etag: str,
        reason: str,
        reply: IdempotentReply[Ticket, M],
    ) -> M:
        """Reopen a closed ticket (emits ``ticket.reopened``)."""
        async with self._db.transaction(tenant_id) as session:
            if (prior := await reply.replay(session, requests, tenant_id)) is not None:
                return prior
            peek = await self._find(session, tenant_id, ref)
            if peek.dedup_key is not None:
                await store.lock(session, tenant_id=tenant_id, key=peek.dedup_key)
            ticket = await self._find(session, tenant_id, peek.id, for_update=True)
            _check_etag(ticket, etag)
            if ticket.is_open:
                raise TicketStateConflict("the ticket is not closed")
            if ticket.dedup_key is not None and await store.open_ticket_for_key(
                session, tenant_id=tenant_id, dedup_key=ticket.dedup_key
            ):
                raise TicketStateConflict("another ticket is open for the same alert")
            reopened = await self._reopen(
                session,
                ticket,
                reason=reason,
                cause=actor.cause,
                actor=actor.subject,
                author_kind=AuthorKind.HUMAN if actor.is_human else AuthorKind.SYSTEM,
            )
            return await reply.answer(session, requests, tenant_id, reopened)

    # --- alerts and SLA (inside the consumer's batch transaction) ------------------------------

    async def on_alert(self, session: AsyncSession, alert: RoutedAlert) -> None:
        """Apply one routed alert: a trigger opens or counts, a reset comments and may close."""
        if alert.kind is domain.AlertKind.TRIGGER:
            await self._on_trigger(session, alert)
        elif alert.kind is domain.AlertKind.RESET:
            if await ordering.reset_is_late(session, alert):
                await ordering.late_reset(self, session, alert)
            else:
                await self._on_reset(session, alert)

    async def on_alert_batch(
        self,
        session: AsyncSession,
        alerts: Sequence[tuple[RoutedAlert, AbstractContextManager[Any]]],
    ) -> None:
        """Apply a batch's routed alerts, in order, each as :meth:`on_alert` would.

        The alerts' tenants are bound and the alerts sorted by dedup key (each key's in
        delivery order). The keys are locked up front in that order; the tenants' settings,
        the keys' open tickets and the series' tombstones are read once. A trigger that adds
        an occurrence to an open ticket (the common case) or opens one is applied in memory
        and its writes are staged: each ticket is written once, history, comments and events
        in one statement each, ticket numbers allocated together. A reset stages its comment
        and close; when its key has no open ticket, the open tickets of such resets' series
        were read up front too. Anything else (reopening, persistence) takes the one-alert
        path after the staged writes are flushed. So does an alert that arrived out of
        occurrence order (a trigger older than a reset of its series, a reset older than a
        trigger or reset of its series): :mod:`services.tickets.ordering` applies it as if it
        had arrived in order. Each alert's work runs inside its ``scope`` (its trace span);
        its staged events carry that trace context.
        """
        relevant = [
            a
            for a, _ in alerts
            if a.kind is domain.AlertKind.RESET
            or (a.kind is domain.AlertKind.TRIGGER and a.actions.wants_ticket)
        ]
        if not relevant:
            for _, scope in alerts:
                with scope:
                    pass
            return
        keys = sorted({(a.tenant_id, a.dedup_key) for a in relevant}, key=lambda k: k[1])
        series = list(
            dict.fromkeys(
                (a.tenant_id, a.series_key) for a in relevant if a.kind is domain.AlertKind.TRIGGER
            )
        )
        state = await store.lock_and_read_batch(session, keys, series)
        settings, stones, found = state.settings, state.tombstones, state.open_tickets
        # The key's open ticket as this transaction has it (staged writes included).
        open_for: dict[str, Ticket | None] = {k: found.get(k) for _, k in keys}
        # A reset whose key has no open ticket looks for its series' ticket instead.
        asked = {
            (a.tenant_id, a.series_key)
            for a in relevant
            if a.kind is domain.AlertKind.RESET and open_for[a.dedup_key] is None
        }
        by_series = _SeriesTickets(asked, await store.open_tickets_for_series_many(session, asked))
        # A reset older than a trigger or reset of its series already applied takes the
        # late path.
        reset_series = {
            (a.tenant_id, a.series_key) for a in relevant if a.kind is domain.AlertKind.RESET
        }
        latest = await series_log.latest(session, reset_series)
        staged = _Staged(session, self._outbox)
        # A trigger of a key with no open ticket opens one right here when nothing else can
        # apply: no persistence delay, no reopening (the tenant never reopens).
        counts = _predicted_opens(relevant, open_for, stones, settings)
        if counts:
            staged.numbers = await self._next_numbers(counts)
        for alert, scope in alerts:
            with scope:
                if alert.kind is domain.AlertKind.TRIGGER:
                    if not alert.actions.wants_ticket:
                        continue
                    _advance(latest, reset_series, alert)
                    key, tenant_settings = alert.dedup_key, settings[alert.tenant_id]
                    if _superseded(alert, stones):
                        await staged.flush()
                        changed = await ordering.late_trigger(self, session, alert, tenant_settings)
                        _track(changed, open_for, by_series)
                        continue
                    current = open_for.get(key)
                    if current is not None:
                        occurred = await self._occur(
                            session, current, alert, tenant_settings, staged
                        )
                        open_for[key] = occurred
                        staged.log.append((alert.tenant_id, logged(alert, occurred.id)))
                    elif (
                        tenant_settings.reopen_within <= timedelta(0)
                        and key in open_for
                        and alert.actions.persistence_count <= 1
                    ):
                        opened = await self._open_from_alert(
                            session, alert, (alert.occurred_at,), staged
                        )
                        open_for[key] = opened
                        staged.cleared[(alert.tenant_id, key)] = None
                        staged.log.append((alert.tenant_id, logged(alert, opened.id)))
                    else:
                        await staged.flush()
                        open_for[key] = await self._on_trigger(session, alert)
                    by_series.note(open_for[key])
                elif alert.kind is domain.AlertKind.RESET:
                    late = ordering.is_late(latest, alert)
                    _advance(latest, reset_series, alert)
                    if late:
                        await staged.flush()
                        _track(await ordering.late_reset(self, session, alert), open_for, by_series)
                        touched = None
                    else:
                        touched = await self._on_reset(session, alert, staged, open_for, by_series)
                    by_series.note(touched)
                    stone = stones.get((alert.tenant_id, alert.series_key))
                    if stone is None or (alert.occurred_at, alert.sequence) > (
                        stone.reset_at,
                        stone.reset_sequence,
                    ):
                        stones[(alert.tenant_id, alert.series_key)] = store.Tombstone(
                            alert.occurred_at, alert.sequence
                        )
                    if touched is not None and touched.dedup_key in open_for:
                        open_for[touched.dedup_key] = touched if touched.is_open else None
        if any(staged.numbers.values()):
            raise RuntimeError("ticket numbers allocated for the batch were left unused")
        await staged.flush()

    async def on_escalation(
        self, session: AsyncSession, tenant_id: str, escalation: Escalation
    ) -> None:
        """Apply SLA escalation actions through the update path (never a human touch)."""
        if escalation.is_empty or not domain.is_uuid(escalation.ticket_id):
            return
        ticket = await store.get_ticket(
            session, tenant_id=tenant_id, ticket_id=escalation.ticket_id, for_update=True
        )
        if ticket is None or not ticket.is_open:
            return
        fields: dict[str, Any] = {
            "priority": domain.escalated_priority(
                ticket.priority, target=escalation.priority, raise_levels=escalation.raise_levels
            )
        }
        if escalation.queue:
            fields["queue"] = escalation.queue
        if escalation.assignee:
            fields["assignee"] = escalation.assignee
        await self._update(
            session,
            ticket,
            fields,
            Cause.SLA_ESCALATION,
            domain.SLA_ACTOR,
            detail=escalation.label,
        )

    async def _on_trigger(self, session: AsyncSession, alert: RoutedAlert) -> Ticket | None:
        """Apply a trigger; returns the key's open ticket afterwards (None: none is open)."""
        actions = alert.actions
        if not actions.wants_ticket:
            return None
        tenant, key = alert.tenant_id, alert.dedup_key
        await store.lock(session, tenant_id=tenant, key=key)
        stone = await store.get_tombstone(session, tenant_id=tenant, series_key=alert.series_key)
        superseded = stone is not None and domain.is_superseded(
            occurred_at=alert.occurred_at,
            sequence=alert.sequence,
            reset_at=stone.reset_at,
            reset_sequence=stone.reset_sequence,
        )
        settings = await store.get_settings(session, tenant_id=tenant)
        if superseded:
            await ordering.late_trigger(self, session, alert, settings)
            return await store.open_ticket_for_key(session, tenant_id=tenant, dedup_key=key)
        current = await store.open_ticket_for_key(session, tenant_id=tenant, dedup_key=key)
        times: Sequence[datetime] = (alert.occurred_at,)
        waiting: list[tuple[datetime, str]] = []
        persistence_ok = True
        if current is None and not superseded and actions.persistence_count > 1:
            since = alert.occurred_at - actions.persistence_within
            await store.log_trigger(
                session,
                tenant_id=tenant,
                dedup_key=key,
                alert_id=alert.alert_id,
                occurred_at=alert.occurred_at,
            )
            waiting = [
                (t, alert_id)
                for t, alert_id in await store.trigger_times(
                    session, tenant_id=tenant, dedup_key=key, since=since
                )
                if t <= alert.occurred_at
            ]
            times = [t for t, _ in waiting]
            persistence_ok = domain.persistence_met(
                times,
                now=alert.occurred_at,
                count=actions.persistence_count,
                within=actions.persistence_within,
            )
            await store.clear_triggers(session, tenant_id=tenant, dedup_key=key, before=since)
        previous = None
        if current is None and settings.reopen_within > timedelta(0):
            previous = await store.last_closed_for_key(session, tenant_id=tenant, dedup_key=key)
        action = domain.decide_trigger(
            wants_ticket=True,
            superseded=superseded,
            has_open_ticket=current is not None,
            persistence_ok=persistence_ok,
            reopenable=previous is not None
            and domain.reopenable(
                previous.closed_at, occurred_at=alert.occurred_at, settings=settings
            ),
        )
        result = await self._apply_trigger(
            session, alert, action, (current, previous), times, settings
        )
        counted = None if action is TriggerAction.WAIT else result
        entry = logged(alert, None if counted is None else counted.id)
        await series_log.add(session, tenant_id=tenant, entry=entry)
        if action is TriggerAction.OPEN and counted is not None and len(waiting) > 1:
            # The triggers that waited for the delay count on the ticket they opened.
            await series_log.reassign_alerts(
                session,
                tenant_id=tenant,
                series_key=alert.series_key,
                alert_ids=[a for _, a in waiting if a != alert.alert_id],
                ticket_id=counted.id,
            )
        return result

    async def _apply_trigger(
        self,
        session: AsyncSession,
        alert: RoutedAlert,
        action: TriggerAction,
        tickets: tuple[Ticket | None, Ticket | None],
        times: Sequence[datetime],
        settings: TenantSettings,
    ) -> Ticket | None:
        """Carry out ``action``; ``tickets`` are the key's open and last closed tickets."""
        tenant, key = alert.tenant_id, alert.dedup_key
        current, previous = tickets
        if action is TriggerAction.OCCUR and current is not None:
            return await self._occur(session, current, alert, settings)
        if action is TriggerAction.REOPEN and previous is not None:
            reopened = await self._reopen(
                session,
                previous,
                reason=f"The alert triggered again (alert {alert.alert_id}).",
                cause=Cause.SYSTEM,
                actor=SYSTEM_ACTOR,
                author_kind=AuthorKind.SYSTEM,
                alert_id=alert.alert_id,
            )
            return await self._occur(session, reopened, alert, settings)
        if action is TriggerAction.OPEN:
            opened = await self._open_from_alert(session, alert, times)
            await store.clear_triggers(session, tenant_id=tenant, dedup_key=key)
            return opened
        return current

    async def _on_reset(
        self,
        session: AsyncSession,
        alert: RoutedAlert,
        staged: _Staged | None = None,
        open_for: Mapping[str, Ticket | None] | None = None,
        by_series: _SeriesTickets | None = None,
    ) -> Ticket | None:
        """Apply a reset; returns the ticket it commented on (and maybe closed), if any.

        In a batch (``staged``) the key is already locked, ``open_for`` has the open
        tickets of the batch's keys as the batch left them and ``by_series`` those of the
        series of resets whose key had none.
        """
        tenant, key = alert.tenant_id, alert.dedup_key
        if staged is None:
            await store.lock(session, tenant_id=tenant, key=key)
        await store.put_tombstone(
            session,
            tenant_id=tenant,
            series_key=alert.series_key,
            reset_at=alert.occurred_at,
            reset_sequence=alert.sequence,
            alert_id=alert.alert_id,
        )
        if staged is None:
            await store.clear_triggers(session, tenant_id=tenant, dedup_key=key)
        else:
            staged.cleared[(tenant, key)] = None
        if staged is not None and open_for is not None and key in open_for:
            ticket = open_for[key]
        else:
            if staged is not None:
                await staged.flush()
            ticket = await store.open_ticket_for_key(session, tenant_id=tenant, dedup_key=key)
        if ticket is None:
            # Some resets name only their series (a PagerDuty-style resolve carries no
            # device or payload), so their (device, condition) key differs from the trigger's.
            known = False
            if by_series is not None:
                known, ticket = by_series.find(tenant, alert.series_key)
            if not known:
                if staged is not None:
                    await staged.flush()
                ticket = await store.open_ticket_for_series(
                    session, tenant_id=tenant, series_key=alert.series_key
                )
        origin = domain.reset_origin(alert.labels)
        entry = logged(alert, None if ticket is None else ticket.id, origin)
        if staged is None:
            await series_log.add(session, tenant_id=tenant, entry=entry)
        else:
            staged.log.append((tenant, entry))
        if ticket is None:
            return None
        actions = alert.actions
        decision = domain.decide_reset(
            origin=origin,
            reset_at=alert.occurred_at,
            last_occurrence_at=ticket.last_occurrence_at,
            close_on_reset=ticket.close_on_reset
            if actions.close_on_reset is None
            else actions.close_on_reset,
            human_touched=ticket.human_touched,
            reset_in_rmm_on_close=ticket.reset_in_rmm_on_close
            if actions.reset_in_rmm_on_close is None
            else actions.reset_in_rmm_on_close,
            series_key=alert.series_key,
        )
        ticket, _ = await self._comment(
            session,
            ticket,
            decision.comment,
            Visibility.INTERNAL,
            AuthorKind.SYSTEM,
            SYSTEM_ACTOR,
            staged=staged,
        )
        if decision.closes:
            ticket = await self._close(
                session,
                ticket,
                status=Status.CLOSED,
                reason=decision.close_reason,
                cause=Cause.ALERT,
                actor=SYSTEM_ACTOR,
                reset_alert=decision.reset_alert,
                auto=True,
                staged=staged,
            )
        return ticket

    async def _next_numbers(self, counts: Mapping[str, int]) -> dict[str, list[int]]:
        # As _next_number, for ``counts[tenant]`` tickets of each tenant at once
        # (consecutive numbers per tenant), in one short transaction.
        tenants = sorted(counts)
        async with self._db.autonomous_transaction(tenants[0]) as session:
            await bind_tenants(session, tenants)
            last = await store.next_numbers(session, {t: counts[t] for t in tenants})
        return {t: list(range(last[t] - counts[t] + 1, last[t] + 1)) for t in tenants}

    async def _next_number(self, tenant_id: str) -> int:
        # Its own short transaction: holding the tenant's counter row until a batch commits
        # serialized (and could deadlock) concurrent batches of one tenant. A rolled-back
        # batch leaves a gap in the numbers, as PSA ticket numbers may have.
        async with self._db.autonomous_transaction(tenant_id) as session:
            return await store.next_number(session, tenant_id=tenant_id)

    async def _open_from_alert(
        self,
        session: AsyncSession,
        alert: RoutedAlert,
        times: Sequence[datetime],
        staged: _Staged | None = None,
        *,
        last_occurrence_at: datetime | None = None,
    ) -> Ticket:
        actions = alert.actions
        now = self._clock()
        tenant = alert.tenant_id
        first = min(times) if times else alert.occurred_at
        if staged is not None and staged.numbers.get(tenant):
            number = staged.numbers[tenant].pop(0)
        else:
            number = await self._next_number(tenant)
        ticket = Ticket(
            id=new_id(),
            tenant_id=tenant,
            number=number,
            title=actions.title,
            description=actions.description,
            client_id=alert.client_id,
            client_name=alert.client_name,
            site_id=alert.site_id,
            site_name=alert.site_name,
            device_id=alert.device_id,
            device_name=alert.device_name,
            priority=actions.priority
            if actions.priority is not Priority.UNSPECIFIED
            else domain.DEFAULT_PRIORITY,
            status=Status.NEW,
            queue=actions.queue,
            assignee=actions.assignee,
            source=Source.ALERT,
            severity=alert.severity,
            condition=alert.condition,
            dedup_key=alert.dedup_key,
            occurrence_count=max(1, len(times)),
            first_occurrence_at=first,
            last_occurrence_at=last_occurrence_at or alert.occurred_at,
            linked_series_keys=(alert.series_key,) if alert.series_key else (),
            rule_id=actions.rule_id,
            close_on_reset=True if actions.close_on_reset is None else actions.close_on_reset,
            reset_in_rmm_on_close=True
            if actions.reset_in_rmm_on_close is None
            else actions.reset_in_rmm_on_close,
            notification_channel_ids=actions.notification_channel_ids,
            created_at=now,
            updated_at=now,
            occurrence_comment_at=alert.occurred_at,
        )
        if staged is not None:
            staged.new[ticket.id] = ticket
        elif not await store.insert_ticket(session, ticket):
            # Unreachable while the key lock is held; the unique index is the last word.
            current = await store.open_ticket_for_key(
                session, tenant_id=tenant, dedup_key=alert.dedup_key
            )
            if current is None:
                raise RuntimeError(f"no open ticket for {alert.dedup_key} after a conflict")
            settings = await store.get_settings(session, tenant_id=tenant)
            return await self._occur(session, current, alert, settings)
        assigned = tuple(
            FieldChange(name, "", str(value))
            for name, value in (
                ("priority", ticket.priority.name),
                ("queue", ticket.queue),
                ("assignee", ticket.assignee),
            )
            if value
        )
        await self._history(
            session,
            ticket,
            HistoryKind.CREATED,
            Cause.RULE if actions.rule_id else Cause.ALERT,
            actions.rule_id or SYSTEM_ACTOR,
            changes=assigned,
            detail=f"alert {alert.alert_id}",
            staged=staged,
        )
        opened = ev.opened(
            ticket,
            alert_id=alert.alert_id,
            series_key=alert.series_key,
            rule_set_version=alert.rule_set_version,
        )
        if staged is None:
            await self._outbox.add(session, opened)
        else:
            staged.event(opened)
        return ticket

    async def _occur(
        self,
        session: AsyncSession,
        ticket: Ticket,
        alert: RoutedAlert,
        settings: TenantSettings,
        staged: _Staged | None = None,
    ) -> Ticket:
        now = self._clock()
        series = ticket.linked_series_keys
        if alert.series_key and alert.series_key not in series:
            series = (*series, alert.series_key)
        first, last = ticket.first_occurrence_at, ticket.last_occurrence_at
        after = replace(
            ticket,
            occurrence_count=ticket.occurrence_count + 1,
            first_occurrence_at=alert.occurred_at
            if first is None
            else min(first, alert.occurred_at),
            last_occurrence_at=alert.occurred_at if last is None else max(last, alert.occurred_at),
            linked_series_keys=series,
            uncommented_occurrences=ticket.uncommented_occurrences + 1,
            version=ticket.version + 1,
            updated_at=now,
        )
        due = domain.occurrence_comment_due(
            ticket.occurrence_comment_at,
            occurred_at=alert.occurred_at,
            interval=settings.occurrence_comment_interval,
        )
        if due:
            after = replace(
                after, uncommented_occurrences=0, occurrence_comment_at=alert.occurred_at
            )
        if staged is None:
            await store.save_ticket(session, after)
        else:
            staged.save(after)
        await self._history(
            session,
            after,
            HistoryKind.OCCURRED,
            Cause.ALERT,
            SYSTEM_ACTOR,
            detail=f"alert {alert.alert_id}",
            staged=staged,
        )
        if staged is None:
            await self._outbox.add(session, ev.occurred(after, alert))
        else:
            staged.event(ev.occurred(after, alert))
        if due:
            body = domain.occurrence_comment(
                count=ticket.uncommented_occurrences + 1,
                since=ticket.occurrence_comment_at,
                total=after.occurrence_count,
            )
            after, _ = await self._comment(
                session,
                after,
                body,
                Visibility.INTERNAL,
                AuthorKind.SYSTEM,
                SYSTEM_ACTOR,
                staged=staged,
            )
        return after

    # --- the one path for each kind of change ---------------------------------------------------

    async def _update(
        self,
        session: AsyncSession,
        ticket: Ticket,
        fields: Mapping[str, Any],
        cause: Cause,
        actor: str,
        *,
        detail: str = "",
    ) -> Ticket:
        candidate = replace(ticket, **fields)
        changes = domain.diff(ticket, candidate, fields.keys())
        if not changes:
            return ticket
        paths = [c.field_path for c in changes]
        touched = ticket.human_touched or domain.is_human_touch(cause, paths)
        after = replace(
            candidate,
            human_touched=touched or candidate.human_touched,
            version=ticket.version + 1,
            updated_at=self._clock(),
        )
        await store.save_ticket(session, after)
        await self._history(
            session, after, HistoryKind.UPDATED, cause, actor, changes=changes, detail=detail
        )
        await self._outbox.add(
            session, ev.updated(ticket, after, paths=paths, cause=cause, actor=actor)
        )
        return after

    async def _comment(
        self,
        session: AsyncSession,
        ticket: Ticket,
        body: str,
        visibility: Visibility,
        author_kind: AuthorKind,
        author: str,
        *,
        staged: _Staged | None = None,
    ) -> tuple[Ticket, Comment]:
        now = self._clock()
        comment = Comment(
            id=new_id(),
            ticket_id=ticket.id,
            body=body,
            visibility=visibility,
            author_kind=author_kind,
            author=author,
            created_at=now,
        )
        if staged is None:
            comment = await store.add_comment(session, tenant_id=ticket.tenant_id, comment=comment)
        else:
            staged.comments.append((ticket.tenant_id, comment))
        after = replace(
            ticket,
            human_touched=ticket.human_touched or domain.comment_touches(author_kind),
            version=ticket.version + 1,
            updated_at=now,
        )
        if staged is None:
            await store.save_ticket(session, after)
        else:
            staged.save(after)
        await self._history(
            session,
            after,
            HistoryKind.COMMENTED,
            Cause.HUMAN if author_kind is AuthorKind.HUMAN else Cause.SYSTEM,
            author,
            detail=comment.id,
            staged=staged,
        )
        if staged is None:
            await self._outbox.add(session, ev.commented(after, comment))
        else:
            staged.event(ev.commented(after, comment))
        return after, comment

    async def _close(
        self,
        session: AsyncSession,
        ticket: Ticket,
        *,
        status: Status,
        reason: CloseReason,
        cause: Cause,
        actor: str,
        reset_alert: bool,
        auto: bool,
        staged: _Staged | None = None,
    ) -> Ticket:
        now = self._clock()
        after = replace(
            ticket,
            status=status,
            close_reason=reason,
            closed_at=now,
            version=ticket.version + 1,
            updated_at=now,
        )
        if staged is None:
            await store.save_ticket(session, after)
        else:
            staged.save(after)
        await self._history(
            session,
            after,
            HistoryKind.CLOSED,
            cause,
            actor,
            changes=domain.diff(ticket, after, ("status", "close_reason")),
            detail=reason.name,
            staged=staged,
        )
        closed = ev.closed(after, reason=reason, reset_alert=reset_alert, auto=auto, actor=actor)
        if staged is None:
            await self._outbox.add(session, closed)
        else:
            staged.event(closed)
        return after

    async def _reopen(
        self,
        session: AsyncSession,
        ticket: Ticket,
        *,
        reason: str,
        cause: Cause,
        actor: str,
        author_kind: AuthorKind,
        alert_id: str = "",
    ) -> Ticket:
        now = self._clock()
        after = replace(
            ticket,
            status=Status.OPEN,
            close_reason=CloseReason.UNSPECIFIED,
            closed_at=None,
            reopen_count=ticket.reopen_count + 1,
            version=ticket.version + 1,
            updated_at=now,
        )
        await store.save_ticket(session, after)
        await self._history(
            session,
            after,
            HistoryKind.REOPENED,
            cause,
            actor,
            changes=domain.diff(ticket, after, ("status",)),
            detail=reason,
        )
        await self._outbox.add(
            session, ev.reopened(after, reason=reason, cause=cause, actor=actor, alert_id=alert_id)
        )
        if reason:
            after, _ = await self._comment(
                session, after, reason, Visibility.INTERNAL, author_kind, actor
            )
        return after

    async def _history(
        self,
        session: AsyncSession,
        ticket: Ticket,
        kind: HistoryKind,
        cause: Cause,
        actor: str,
        *,
        changes: tuple[FieldChange, ...] = (),
        detail: str = "",
        staged: _Staged | None = None,
    ) -> None:
        entry = HistoryEntry(
            id=new_id(),
            ticket_id=ticket.id,
            kind=kind,
            cause=cause,
            actor=actor,
            changes=changes,
            detail=detail,
            created_at=self._clock(),
        )
        if staged is None:
            await store.add_history(session, tenant_id=ticket.tenant_id, entry=entry)
        else:
            staged.history.append((ticket.tenant_id, entry))

    async def _find(
        self, session: AsyncSession, tenant_id: str, ref: TicketRef, *, for_update: bool = False
    ) -> Ticket:
        if isinstance(ref, int):
            found = await store.get_ticket_by_number(
                session, tenant_id=tenant_id, number=ref, for_update=for_update
            )
        else:
            found = await store.get_ticket(
                session, tenant_id=tenant_id, ticket_id=ref, for_update=for_update
            )
        if found is None:
            raise TicketNotFound(f"ticket {ref} not found")
        return found


def _superseded(alert: RoutedAlert, stones: Mapping[tuple[str, str], store.Tombstone]) -> bool:
    stone = stones.get((alert.tenant_id, alert.series_key))
    return stone is not None and domain.is_superseded(
        occurred_at=alert.occurred_at,
        sequence=alert.sequence,
        reset_at=stone.reset_at,
        reset_sequence=stone.reset_sequence,
    )


def _predicted_opens(
    alerts: Sequence[RoutedAlert],
    open_for: Mapping[str, Ticket | None],
    stones: Mapping[tuple[str, str], store.Tombstone],
    settings: Mapping[str, TenantSettings],
) -> dict[str, int]:
    """How many tickets each tenant's alerts of a batch certainly open without the one-alert
    path, counting only keys that no reset of the batch can affect (a reset can only close
    tickets, so other keys can open more tickets than counted, never fewer)."""
    resets = [a for a in alerts if a.kind is domain.AlertKind.RESET]
    reset_keys = {a.dedup_key for a in resets}
    reset_series = {(a.tenant_id, a.series_key) for a in resets}
    unopened = {k for k, t in open_for.items() if t is None and k not in reset_keys}
    counts: dict[str, int] = {}
    for a in alerts:
        if a.dedup_key not in unopened:
            continue
        if _superseded(a, stones):
            # A late trigger may open its key's ticket (closed or not): not predictable.
            unopened.discard(a.dedup_key)
            continue
        unopened.discard(a.dedup_key)
        if (a.tenant_id, a.series_key) in reset_series:
            continue  # a reset of its series may supersede it: not predictable
        if a.actions.persistence_count <= 1 and settings[a.tenant_id].reopen_within <= timedelta(0):
            counts[a.tenant_id] = counts.get(a.tenant_id, 0) + 1
    return counts


def _advance(
    latest: dict[tuple[str, str, domain.AlertKind], domain_order.Position],
    watched: set[tuple[str, str]],
    alert: RoutedAlert,
) -> None:
    """Keep ``latest`` (the last trigger's and reset's positions of each watched series)
    current."""
    if (alert.tenant_id, alert.series_key) in watched:
        key = (alert.tenant_id, alert.series_key, alert.kind)
        latest[key] = max(latest.get(key, position(alert)), position(alert))


def _track(
    changed: Sequence[Ticket], open_for: dict[str, Ticket | None], by_series: _SeriesTickets
) -> None:
    """Take the tickets a late event changed (in order) into the batch's views."""
    for ticket in changed:
        by_series.note(ticket)
        key = ticket.dedup_key
        if key is None or key not in open_for:
            continue
        if ticket.is_open:
            open_for[key] = ticket
        elif (held := open_for[key]) is not None and held.id == ticket.id:
            open_for[key] = None


def _check_etag(ticket: Ticket, etag: str) -> None:
    if etag and etag != ticket.etag:
        raise EtagMismatch(f"ticket {ticket.id} changed since it was read (etag {ticket.etag})")
