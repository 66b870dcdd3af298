"""Domain objects <-> triage.tickets.v1 messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import duration_pb2, timestamp_pb2

from services.tickets.domain.tickets import Comment, HistoryEntry, Ticket, TimeEntry
from triage.runtime import to_timestamp
from triage.tickets.v1 import resources_pb2 as pb


def _stamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    return None if moment is None else to_timestamp(moment)


def ticket_to_proto(ticket: Ticket) -> pb.Ticket:
    """The API and event form of a ticket."""
    return pb.Ticket(
        id=ticket.id,
        tenant_id=ticket.tenant_id,
        number=ticket.number,
        title=ticket.title,
        description=ticket.description,
        client_id=ticket.client_id,
        client_name=ticket.client_name,
        site_id=ticket.site_id,
        site_name=ticket.site_name,
        device_id=ticket.device_id,
        device_name=ticket.device_name,
        priority=pb.Priority.ValueType(ticket.priority),
        status=pb.TicketStatus.ValueType(ticket.status),
        queue=ticket.queue,
        assignee=ticket.assignee,
        source=pb.TicketSource.ValueType(ticket.source),
        severity=ticket.severity,  # type: ignore[arg-type]
        condition=ticket.condition,
        occurrence_count=ticket.occurrence_count,
        first_occurrence_time=_stamp(ticket.first_occurrence_at),
        last_occurrence_time=_stamp(ticket.last_occurrence_at),
        linked_series_keys=list(ticket.linked_series_keys),
        dedup_key=ticket.dedup_key or "",
        rule_id=ticket.rule_id,
        close_on_reset=ticket.close_on_reset,
        reset_in_rmm_on_close=ticket.reset_in_rmm_on_close,
        notification_channel_ids=list(ticket.notification_channel_ids),
        human_touched=ticket.human_touched,
        close_reason=pb.CloseReason.ValueType(ticket.close_reason),
        reopen_count=ticket.reopen_count,
        create_time=_stamp(ticket.created_at),
        update_time=_stamp(ticket.updated_at),
        close_time=_stamp(ticket.closed_at),
        etag=ticket.etag,
    )


def comment_to_proto(comment: Comment) -> pb.Comment:
    """The API and event form of a comment."""
    return pb.Comment(
        id=comment.id,
        ticket_id=comment.ticket_id,
        body=comment.body,
        visibility=pb.CommentVisibility.ValueType(comment.visibility),
        author_kind=pb.AuthorKind.ValueType(comment.author_kind),
        author=comment.author,
        create_time=to_timestamp(comment.created_at),
    )


def time_entry_to_proto(entry: TimeEntry) -> pb.TimeEntry:
    """The API form of a time entry."""
    duration = duration_pb2.Duration()
    duration.FromTimedelta(entry.duration)
    return pb.TimeEntry(
        id=entry.id,
        ticket_id=entry.ticket_id,
        duration=duration,
        start_time=_stamp(entry.start_at),
        note=entry.note,
        billable=entry.billable,
        author=entry.author,
        create_time=to_timestamp(entry.created_at),
    )


def history_to_proto(entry: HistoryEntry) -> pb.HistoryEntry:
    """The API form of a history entry."""
    return pb.HistoryEntry(
        id=entry.id,
        ticket_id=entry.ticket_id,
        kind=pb.HistoryKind.ValueType(entry.kind),
        cause=pb.ChangeCause.ValueType(entry.cause),
        actor=entry.actor,
        changes=[
            pb.FieldChange(field_path=c.field_path, before=c.before, after=c.after)
            for c in entry.changes
        ],
        detail=entry.detail,
        change_time=to_timestamp(entry.created_at),
    )
