"""Domain objects <-> triage.tickets.v1 messages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

from services.tickets.domain.incidents import IncidentDetail, IncidentView, Member, StormSettings
from services.tickets.domain.tickets import (
    Comment,
    Damping,
    HistoryEntry,
    TenantSettings,
    Ticket,
    TimeEntry,
)
from triage.runtime import FieldViolation, to_timestamp
from triage.tickets.v1 import incidents_pb2 as inc_pb
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
        flapping=ticket.flapping_since is not None,
        flapping_since_time=_stamp(ticket.flapping_since),
    )


#: The update-mask paths of UpdateTenantSettings.
SETTINGS_PATHS = frozenset(
    {
        "reopen_within",
        "occurrence_comment_interval",
        "flap_damping",
        "flap_damping.enabled",
        "flap_damping.changes",
        "flap_damping.window",
        "storm_protection",
        "storm_protection.enabled",
        "storm_protection.tickets",
        "storm_protection.window",
    }
)


def settings_violations(given: pb.TenantSettings, paths: list[str]) -> list[FieldViolation]:
    """What is wrong with an UpdateTenantSettings mask and the values it names (the
    bounds of set values are the contract's)."""
    violations = [
        FieldViolation(f"update_mask.paths[{i}]", f"{path!r} is not a setting")
        for i, path in enumerate(paths)
        if path not in SETTINGS_PATHS
    ]
    if not paths:
        violations.append(FieldViolation("update_mask", "must name at least one setting"))
    named = set(paths)
    if named & {"flap_damping", "flap_damping.changes"} and given.flap_damping.changes == 0:
        violations.append(FieldViolation("settings.flap_damping.changes", "must be 2 to 100"))
    window_named = named & {"flap_damping", "flap_damping.window"}
    if window_named and not given.flap_damping.HasField("window"):
        violations.append(FieldViolation("settings.flap_damping.window", "is required"))
    if named & {"storm_protection", "storm_protection.tickets"} and (
        given.storm_protection.tickets == 0
    ):
        violations.append(FieldViolation("settings.storm_protection.tickets", "must be 1 to 10000"))
    if named & {"storm_protection", "storm_protection.window"} and not (
        given.storm_protection.HasField("window")
    ):
        violations.append(FieldViolation("settings.storm_protection.window", "is required"))
    return violations


def _duration(span: timedelta) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(span)
    return out


def settings_to_proto(settings: TenantSettings) -> pb.TenantSettings:
    """The API and event form of a tenant's ticket settings."""
    return pb.TenantSettings(
        reopen_within=_duration(settings.reopen_within),
        occurrence_comment_interval=_duration(settings.occurrence_comment_interval),
        flap_damping=pb.FlapDamping(
            enabled=settings.damping.enabled,
            changes=settings.damping.changes,
            window=_duration(settings.damping.window),
        ),
        storm_protection=pb.StormProtection(
            enabled=settings.storm.enabled,
            tickets=settings.storm.tickets,
            window=_duration(settings.storm.window),
        ),
        etag=settings_etag(settings),
    )


def settings_etag(settings: TenantSettings) -> str:
    """The etag of a tenant's settings (``v0``: the defaults, never stored)."""
    return f"v{settings.version}"


def settings_from_proto(
    message: pb.TenantSettings, paths: Iterable[str], current: TenantSettings
) -> TenantSettings:
    """``current`` with the fields named by ``paths`` taken from ``message`` (paths
    already checked by the API)."""
    named = set(paths)
    damping = current.damping
    whole = "flap_damping" in named
    wire = message.flap_damping
    return replace(
        current,
        reopen_within=message.reopen_within.ToTimedelta()
        if "reopen_within" in named
        else current.reopen_within,
        occurrence_comment_interval=message.occurrence_comment_interval.ToTimedelta()
        if "occurrence_comment_interval" in named
        else current.occurrence_comment_interval,
        damping=Damping(
            enabled=wire.enabled if whole or "flap_damping.enabled" in named else damping.enabled,
            changes=wire.changes if whole or "flap_damping.changes" in named else damping.changes,
            window=wire.window.ToTimedelta()
            if whole or "flap_damping.window" in named
            else damping.window,
        ),
        storm=_storm_from_proto(message.storm_protection, named, current.storm),
    )


def _storm_from_proto(
    wire: pb.StormProtection, named: set[str], current: StormSettings
) -> StormSettings:
    whole = "storm_protection" in named
    return StormSettings(
        enabled=wire.enabled if whole or "storm_protection.enabled" in named else current.enabled,
        tickets=wire.tickets if whole or "storm_protection.tickets" in named else current.tickets,
        window=wire.window.ToTimedelta()
        if whole or "storm_protection.window" in named
        else current.window,
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


# --- incidents (issue 19) ----------------------------------------------------------------------


def incident_to_proto(view: IncidentView) -> inc_pb.Incident:
    """The API form of an incident with its member counts."""
    incident = view.incident
    window = duration_pb2.Duration()
    window.FromTimedelta(incident.window)
    return inc_pb.Incident(
        id=incident.id,
        group_key=incident.group_key,
        rule_id=incident.rule_id,
        rule_name=incident.rule_name,
        storm=incident.storm,
        parent_ticket_id=incident.parent_ticket_id,
        start_time=to_timestamp(incident.started_at),
        window=window,
        primary_series_key=incident.primary_series_key,
        severity=incident.severity,
        open=incident.closed_at is None,
        close_time=_stamp(incident.closed_at),
        member_count=view.members,
        active_member_count=view.active,
        client_id=incident.client_id,
        client_name=incident.client_name,
    )


def member_to_proto(member: Member) -> inc_pb.IncidentMember:
    """The API form of an incident member."""
    return inc_pb.IncidentMember(
        series_key=member.series_key,
        device_name=member.device_name,
        condition=member.condition,
        primary=member.primary,
        occurrences=member.occurrences,
        first_time=to_timestamp(member.first_at),
        last_time=to_timestamp(member.last_at),
        reset_time=_stamp(member.reset_at),
        merged_ticket_id=member.merged_ticket_id or "",
        severity=member.severity,
    )


def incident_detail_to_proto(detail: IncidentDetail) -> inc_pb.GetIncidentResponse:
    """GetIncident's answer: the incident, its members (moved-out ones left off) and its
    timeline."""
    return inc_pb.GetIncidentResponse(
        incident=incident_to_proto(detail.view),
        members=[member_to_proto(m) for m in detail.members if m.moved_at is None],
        timeline=[
            inc_pb.IncidentTimelineEntry(
                time=to_timestamp(e.at), what=e.what, series_key=e.series_key
            )
            for e in detail.timeline
        ],
    )
