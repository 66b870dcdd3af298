"""A ticket's timeline: comments, history, time entries and SLA audit, merged by time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.console import format as fmt
from triage.sla.v1 import resources_pb2 as sla_res
from triage.tickets.v1 import resources_pb2 as tickets_res


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime | None
    kind: str
    title: str
    body: str = ""
    who: str = ""
    tags: tuple[str, ...] = ()
    changes: tuple[tuple[str, str, str], ...] = field(default_factory=tuple)


def _history(h: Any) -> Entry:
    kind = fmt.slug(tickets_res.HistoryKind, h.kind, "HISTORY_KIND_")
    titles = {
        "created": "Ticket opened",
        "updated": "Changed",
        "occurred": "Alert occurred again",
        "commented": "Commented",
        "time_logged": "Time logged",
        "closed": "Closed",
        "reopened": "Reopened",
    }
    cause = fmt.label(tickets_res.ChangeCause, h.cause, "CHANGE_CAUSE_")
    return Entry(
        at=fmt.when(h.change_time),
        kind="occurrence" if kind == "occurred" else f"status-{kind}",
        title=titles.get(kind, kind.replace("_", " ").capitalize()),
        body=h.detail,
        who=h.actor,
        tags=(cause.lower(),) if cause else (),
        changes=tuple((c.field_path, c.before, c.after) for c in h.changes),
    )


def _comment(c: Any) -> Entry:
    visibility = fmt.slug(tickets_res.CommentVisibility, c.visibility, "COMMENT_VISIBILITY_")
    author = fmt.slug(tickets_res.AuthorKind, c.author_kind, "AUTHOR_KIND_")
    return Entry(
        at=fmt.when(c.create_time),
        kind=f"comment-{visibility or 'internal'}",
        title=f"{(visibility or 'internal').capitalize()} comment",
        body=c.body,
        who=c.author,
        tags=(author,) if author else (),
    )


def _time(t: Any) -> Entry:
    seconds = t.duration.seconds + t.duration.nanos / 1e9
    return Entry(
        at=fmt.when(t.create_time) or fmt.when(t.start_time),
        kind="time",
        title=f"Logged {fmt.duration_text(seconds)}",
        body=t.note,
        who=t.author,
        tags=("billable",) if t.billable else (),
    )


def _audit(a: Any) -> Entry:
    target = fmt.label(sla_res.SlaTargetKind, a.target_kind, "SLA_TARGET_KIND_")
    what = fmt.label(sla_res.SlaAuditKind, a.kind, "SLA_AUDIT_KIND_")
    before = fmt.label(sla_res.SlaState, a.before_state, "SLA_STATE_")
    after = fmt.label(sla_res.SlaState, a.after_state, "SLA_STATE_")
    body = f"{before} → {after}" if before and after and before != after else after
    if a.percent:
        body = f"{body} ({a.percent}% used)".strip()
    due = fmt.show_time(fmt.when(a.after_due_time))
    return Entry(
        at=fmt.when(a.event_time),
        kind="sla",
        title=f"SLA {target.lower()}: {what.lower()}",
        body=f"{body}; due {due}" if due else body,
        who=a.cause,
        tags=("late",) if a.late else (),
    )


def merge(
    *, history: list[Any], comments: list[Any], times: list[Any], audit: list[Any]
) -> list[Entry]:
    """Every entry, oldest first. History lines for comments and time entries are left
    out: the comment or the entry itself is shown instead, with its text."""
    entries = [
        _history(h)
        for h in history
        if h.kind not in (tickets_res.HISTORY_KIND_COMMENTED, tickets_res.HISTORY_KIND_TIME_LOGGED)
    ]
    entries += [_comment(c) for c in comments]
    entries += [_time(t) for t in times]
    entries += [_audit(a) for a in audit]
    return sorted(entries, key=lambda e: (e.at is None, e.at.timestamp() if e.at else 0.0))
