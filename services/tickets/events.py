"""Subjects, durable consumers, and events <-> domain for the tickets service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, Protocol

from google.protobuf.message import Message
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.convert import comment_to_proto, settings_to_proto, ticket_to_proto
from services.tickets.domain.alerts import AlertKind, RoutedActions, RoutedAlert
from services.tickets.domain.incidents import Correlation, MergeTarget
from services.tickets.domain.order import position
from services.tickets.domain.tickets import (
    AuthorKind,
    Cause,
    CloseReason,
    Comment,
    Escalation,
    Priority,
    TenantSettings,
    Ticket,
    Visibility,
    condition_identity,
    default_title,
)
from triage.events.v1.envelope_pb2 import Envelope as Envelope
from triage.rules.v1 import events_pb2 as rules_events
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.runtime import (
    BatchConsumer,
    BatchHandler,
    Bus,
    Database,
    Inbox,
    ReceivedEvent,
    claimed_batch,
    each_event,
    event_span,
    from_timestamp,
    new_envelope,
    to_timestamp,
    unpack,
)
from triage.sla.v1 import events_pb2 as sla_events
from triage.sla.v1 import resources_pb2 as sla_pb
from triage.tickets.v1 import events_pb2 as pb
from triage.tickets.v1 import resources_pb2 as res

PRODUCER = "tickets"
ALERT_ROUTED_SUBJECT = "triage.alert.routed.>"
SLA_SUBJECTS = ("triage.sla.threshold.>", "triage.sla.breached.>")
ALERTS_DURABLE = "tickets-alert-routed"
SLA_DURABLE = "tickets-sla-escalation"


# --- events out ------------------------------------------------------------------------------


def _envelope(ticket: Ticket, event_type: str, payload: Message) -> Envelope:
    return new_envelope(
        tenant_id=ticket.tenant_id,
        event_type=event_type,
        payload=payload,
        producer=PRODUCER,
        ordering_key=ticket.id,
    )


def opened(
    ticket: Ticket, *, alert_id: str = "", series_key: str = "", rule_set_version: int = 0
) -> Envelope:
    """``ticket.opened``."""
    return _envelope(
        ticket,
        "ticket.opened",
        pb.TicketOpened(
            ticket=ticket_to_proto(ticket),
            alert_id=alert_id,
            series_key=series_key,
            rule_set_version=rule_set_version,
        ),
    )


def occurred(ticket: Ticket, alert: RoutedAlert) -> Envelope:
    """``ticket.occurred``."""
    return _envelope(
        ticket,
        "ticket.occurred",
        pb.TicketOccurred(
            ticket=ticket_to_proto(ticket),
            alert_id=alert.alert_id,
            series_key=alert.series_key,
            occurrence_count=ticket.occurrence_count,
            occurred_time=to_timestamp(alert.occurred_at),
        ),
    )


def updated(
    before: Ticket, after: Ticket, *, paths: Sequence[str], cause: Cause, actor: str
) -> Envelope:
    """``ticket.updated``."""
    return _envelope(
        after,
        "ticket.updated",
        pb.TicketUpdated(
            before=ticket_to_proto(before),
            after=ticket_to_proto(after),
            changed_paths=list(paths),
            cause=res.ChangeCause.ValueType(cause),
            actor=actor,
        ),
    )


def settings_changed(
    tenant_id: str, settings: TenantSettings, *, paths: Sequence[str], actor: str
) -> Envelope:
    """``ticket.settings_changed`` (ordering key: the tenant)."""
    return new_envelope(
        tenant_id=tenant_id,
        event_type="ticket.settings_changed",
        payload=pb.TenantSettingsChanged(
            settings=settings_to_proto(settings), changed_paths=list(paths), actor=actor
        ),
        producer=PRODUCER,
        ordering_key=tenant_id,
    )


def commented(ticket: Ticket, comment: Comment) -> Envelope:
    """``ticket.commented``."""
    return _envelope(
        ticket,
        "ticket.commented",
        pb.TicketCommented(
            ticket=ticket_to_proto(ticket),
            comment=comment_to_proto(comment),
            public=comment.visibility is Visibility.PUBLIC,
            by_human=comment.author_kind is AuthorKind.HUMAN,
        ),
    )


def closed(
    ticket: Ticket,
    *,
    reason: CloseReason,
    reset_alert: bool,
    auto: bool,
    actor: str,
    merged_into: MergeTarget | None = None,
) -> Envelope:
    """``ticket.closed``, with the linked series ingest resets when ``reset_alert`` and the
    ticket it was merged into, if it was."""
    payload = pb.TicketClosed(
        ticket=ticket_to_proto(ticket),
        reason=res.CloseReason.ValueType(reason),
        linked_series_keys=list(ticket.linked_series_keys),
        reset_alert=reset_alert,
        auto=auto,
        actor=actor,
    )
    if merged_into is not None:
        payload.merged_into.CopyFrom(
            pb.MergedInto(
                ticket_id=merged_into.ticket_id,
                ticket_number=merged_into.ticket_number,
                incident_id=merged_into.incident_id,
            )
        )
    return _envelope(ticket, "ticket.closed", payload)


def reopened(
    ticket: Ticket, *, reason: str, cause: Cause, actor: str, alert_id: str = ""
) -> Envelope:
    """``ticket.reopened``."""
    return _envelope(
        ticket,
        "ticket.reopened",
        pb.TicketReopened(
            ticket=ticket_to_proto(ticket),
            reason=reason,
            cause=res.ChangeCause.ValueType(cause),
            actor=actor,
            alert_id=alert_id,
        ),
    )


# --- events in ---------------------------------------------------------------------------------


def correlation_of(routed: rules_events.AlertRouted) -> Correlation | None:
    """The ``correlation`` block of an ``alert.routed``, if a correlation rule matched."""
    if not routed.HasField("correlation") or not routed.correlation.group_key:
        return None
    block = routed.correlation
    return Correlation(
        rule_id=block.rule_id,
        rule_name=block.rule_name,
        group_key=block.group_key,
        window=block.window.ToTimedelta() if block.HasField("window") else timedelta(0),
        primary=block.primary,
        group_values=tuple((v.field, v.value) for v in block.group_values),
    )


def routed_alert(envelope: Envelope) -> RoutedAlert:
    """An ``alert.routed`` envelope as the domain's RoutedAlert."""
    routed = unpack(envelope, rules_events.AlertRouted)
    alert = routed.alert
    decision = routed.decision
    actions = decision.actions
    wants = (
        decision.kind
        in (
            rules_pb.DECISION_KIND_ROUTED,
            rules_pb.DECISION_KIND_UNMATCHED,
        )
        and actions.ticket_action == rules_pb.TICKET_ACTION_CREATE_TICKET
    )
    persistence = actions.persistence if actions.HasField("persistence") else None
    condition = condition_identity(
        condition=alert.condition,
        condition_name=alert.condition_name,
        series_key=alert.series_key,
    )
    return RoutedAlert(
        alert_id=alert.alert_id,
        tenant_id=envelope.tenant_id,
        kind=AlertKind(alert.kind),
        series_key=alert.series_key,
        sequence=alert.series_sequence,
        occurred_at=from_timestamp(
            alert.occurred_time if alert.HasField("occurred_time") else envelope.occurred_time
        ),
        device_id=alert.device_id,
        device_name=alert.device_name,
        client_id=alert.client_id,
        client_name=alert.client_name,
        site_id=alert.site_id,
        site_name=alert.site_name,
        condition=condition,
        severity=int(alert.severity),
        summary=alert.summary,
        message=alert.message,
        labels=dict(alert.labels),
        rule_set_version=routed.rule_set_version or decision.rule_set_version,
        correlation=correlation_of(routed),
        actions=RoutedActions(
            wants_ticket=wants,
            priority=Priority(decision.priority),
            queue=actions.queue,
            assignee=actions.assignee,
            title=decision.rendered_title
            or default_title(
                device_name=alert.device_name,
                summary=alert.summary,
                condition=alert.condition_name or alert.condition,
            ),
            description=decision.rendered_description or alert.message,
            close_on_reset=(actions.close_on_reset if actions.HasField("close_on_reset") else None),
            reset_in_rmm_on_close=(
                actions.reset_in_rmm_on_close if actions.HasField("reset_in_rmm_on_close") else None
            ),
            notification_channel_ids=tuple(actions.notification_channel_ids),
            persistence_count=max(1, persistence.count) if persistence is not None else 1,
            persistence_within=(
                persistence.within.ToTimedelta() if persistence is not None else timedelta(0)
            ),
            rule_id=decision.rule_ids[0] if decision.rule_ids else "",
            rule_ids=tuple(decision.rule_ids),
        ),
    )


def _merge(ticket_id: str, actions: Sequence[sla_pb.ThresholdAction], label: str) -> Escalation:
    priority = Priority.UNSPECIFIED
    raise_levels = 0
    queue = assignee = ""
    for action in actions:
        which = action.WhichOneof("action")
        if which == "escalate":
            target = Priority(action.escalate.priority)
            if target is not Priority.UNSPECIFIED and (
                priority is Priority.UNSPECIFIED or target < priority
            ):
                priority = target
            raise_levels = max(raise_levels, action.escalate.raise_levels)
        elif which == "reassign":
            queue = action.reassign.queue or queue
            assignee = action.reassign.assignee or assignee
    return Escalation(
        ticket_id=ticket_id,
        priority=priority,
        raise_levels=raise_levels,
        queue=queue,
        assignee=assignee,
        label=label,
    )


def escalation(envelope: Envelope) -> Escalation:
    """An ``sla.threshold`` or ``sla.breached`` envelope as the domain's Escalation."""
    if envelope.type == "sla.breached":
        breached = unpack(envelope, sla_events.SlaBreached)
        kind = sla_pb.SlaTargetKind.Name(breached.target_kind)
        return _merge(breached.ticket.ticket_id, breached.actions, f"{kind} breached")
    threshold = unpack(envelope, sla_events.SlaThreshold)
    kind = sla_pb.SlaTargetKind.Name(threshold.target_kind)
    return _merge(threshold.ticket.ticket_id, threshold.actions, f"{kind} at {threshold.percent}%")


def _routed(event: ReceivedEvent) -> RoutedAlert:
    """The event's alert, decoded once for both the batch's sort and its handler."""
    return event.memo("routed", lambda: routed_alert(event.envelope))


def _alert_order(event: ReceivedEvent) -> str:
    if event.type != "alert.routed":
        return ""
    try:
        return _routed(event).dedup_key
    except ValueError:
        return ""


def _series_of(event: ReceivedEvent) -> tuple[str, str, str] | None:
    """The event's key (its batch sort key) and series; None for what is no alert."""
    if event.type != "alert.routed":
        return None
    try:
        alert = _routed(event)
    except ValueError:
        return None
    return (alert.dedup_key, alert.tenant_id, alert.series_key)


def in_occurrence_order(events: Sequence[ReceivedEvent]) -> list[ReceivedEvent]:
    """``events`` (sorted by key) with each series' alerts of one key in occurrence order
    (:func:`services.tickets.domain.order.position`, as the late paths compare them; ties
    keep stream order), in the places that series held: the order of keys (the locks')
    and of series within a key is unchanged."""
    places: dict[tuple[str, str, str], list[int]] = {}
    for i, event in enumerate(events):
        if (series := _series_of(event)) is not None:
            places.setdefault(series, []).append(i)
    ordered = list(events)
    for held in places.values():
        # A batch applying a later trigger before an earlier reset would announce a
        # reopen, then take it back with a close.
        mine = sorted((events[i] for i in held), key=lambda e: position(_routed(e)))
        for i, event in zip(held, mine, strict=True):
            ordered[i] = event
    return ordered


def _escalation(event: ReceivedEvent) -> Escalation:
    return event.memo("escalation", lambda: escalation(event.envelope))


def _sla_order(event: ReceivedEvent) -> str:
    try:
        return _escalation(event).ticket_id
    except ValueError:
        return ""


EscalationHandler = Callable[[AsyncSession, str, Escalation], Awaitable[None]]


class AlertService(Protocol):
    """What the ``alert.routed`` consumer needs of the tickets service."""

    async def on_alert_batch(
        self,
        session: AsyncSession,
        alerts: Sequence[tuple[RoutedAlert, AbstractContextManager[Any]]],
    ) -> None:
        """Apply a batch's alerts (their tenants bound, sorted by dedup key; each series'
        of a key in occurrence order)."""


def alert_batch_handler(db: Database, inbox: Inbox, service: AlertService) -> BatchHandler:
    """The runtime's claimed batch (:func:`triage.runtime.consume.claimed_batch`): the
    ``alert.routed`` events sorted by ticket key, claimed in one transaction, then handed
    over together, each series' in occurrence order (:func:`in_occurrence_order`), each
    with its own ``handle alert.routed`` span (continuing its trace)."""

    async def use(session: AsyncSession, fresh: Sequence[ReceivedEvent]) -> None:
        alerts = [
            (_routed(e), event_span(e, batch_size=len(fresh))) for e in in_occurrence_order(fresh)
        ]
        await service.on_alert_batch(session, alerts)

    return claimed_batch(
        db, inbox, use, wanted=lambda e: e.type == "alert.routed", order=_alert_order
    )


def alert_consumer(
    bus: Bus,
    db: Database,
    inbox_table: Table,
    service: AlertService,
    *,
    batch_size: int = 256,
    max_deliveries: int = 10,
    fetch_timeout_seconds: float = 1.0,
) -> BatchConsumer:
    """The durable consumer of ``alert.routed``."""
    return BatchConsumer(
        bus,
        db,
        service=PRODUCER,
        durable=ALERTS_DURABLE,
        filter_subjects=[ALERT_ROUTED_SUBJECT],
        handler=alert_batch_handler(db, Inbox(inbox_table, ALERTS_DURABLE), service),
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        fetch_timeout_seconds=fetch_timeout_seconds,
    )


def sla_consumer(
    bus: Bus,
    db: Database,
    inbox_table: Table,
    on_escalation: EscalationHandler,
    *,
    batch_size: int = 256,
    max_deliveries: int = 10,
    fetch_timeout_seconds: float = 1.0,
) -> BatchConsumer:
    """The durable consumer of ``sla.threshold`` and ``sla.breached``."""

    async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
        if event.type not in ("sla.threshold", "sla.breached"):
            return
        await on_escalation(session, event.tenant_id, _escalation(event))

    return BatchConsumer(
        bus,
        db,
        service=PRODUCER,
        durable=SLA_DURABLE,
        filter_subjects=list(SLA_SUBJECTS),
        handler=claimed_batch(
            db, Inbox(inbox_table, SLA_DURABLE), each_event(handle), order=_sla_order
        ),
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        fetch_timeout_seconds=fetch_timeout_seconds,
    )
