"""``triage calendars``, ``triage policies`` and ``triage sla``: business hours and SLAs."""

from __future__ import annotations

import argparse
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import field_mask_pb2

from triage.cli import sla_audit
from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    enum_name,
    parse_duration,
    print_fields,
    short_time,
)
from triage.cli.sla_clocks import CLOCK_HEADERS, clock_rows
from triage.cli.sla_thresholds import build_thresholds, thresholds_text
from triage.runtime.events import to_timestamp
from triage.sla.v1 import resources_pb2 as pb
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1.sla_service_pb2_grpc import SlaServiceStub
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.types.v1 import time_pb2

BREACH_HEADERS = [
    "number",
    "ticket",
    "target",
    "priority",
    "client",
    "due",
    "breached",
    "met",
    "cancelled",
]
DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
_SHIFT = re.compile(r"^(?:(?P<days>[a-z,\-]+)\s+)?(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


def _call(ctx: CliContext, method: str, request: Any) -> Any:
    return ctx.call("sla", SlaServiceStub, method, request)


def _time_of_day(text: str) -> time_pb2.TimeOfDay:
    hours, minutes = (int(p) for p in text.split(":"))
    return time_pb2.TimeOfDay(hours=hours, minutes=minutes)


def _days(text: str) -> list[time_pb2.DayOfWeek.ValueType]:
    found: list[time_pb2.DayOfWeek.ValueType] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise CliError(f"bad days {text!r}: use e.g. mon-fri or sat,sun", code=2)
        found.extend(
            time_pb2.DayOfWeek.ValueType(d) for d in range(DAYS[first], DAYS[last or first] + 1)
        )
    return found


def parse_shift(text: str) -> time_pb2.WeeklyTimeRange:
    """``mon-fri 09:00-17:00`` (days optional: every day) as a weekly range."""
    match = _SHIFT.match(text.strip().lower())
    if match is None:
        raise CliError(f"bad shift {text!r}: use e.g. 'mon-fri 09:00-17:00'", code=2)
    return time_pb2.WeeklyTimeRange(
        days=_days(match["days"]) if match["days"] else [],
        start=_time_of_day(match["start"]),
        end=_time_of_day(match["end"]),
    )


def parse_target(text: str) -> pb.PriorityTargets:
    """``P3=1h/8h`` (first response / resolution; ``-`` for none; ``@24x7`` for calendar time)."""
    spec, _, mode = text.partition("@")
    priority, sep, durations = spec.partition("=")
    first, _, resolution = durations.partition("/")
    if not sep or not re.fullmatch(r"[pP][1-5]", priority.strip()):
        raise CliError(f"bad target {text!r}: use e.g. P3=1h/8h or P1=15m/1h@24x7", code=2)
    business = mode.strip().lower() != "24x7"
    targets = pb.PriorityTargets(priority=int(priority.strip()[1]))  # type: ignore[arg-type]
    if first.strip() not in ("", "-"):
        targets.first_response.CopyFrom(
            pb.SlaTarget(duration=parse_duration(first), business_time=business)
        )
    if resolution.strip() not in ("", "-"):
        targets.resolution.CopyFrom(
            pb.SlaTarget(duration=parse_duration(resolution), business_time=business)
        )
    return targets


def parse_scope(text: str) -> pb.PolicyScope:
    """``default``, ``client:ID`` or ``queue:NAME``."""
    kind, _, value = text.partition(":")
    if kind == "default":
        return pb.PolicyScope(kind=pb.POLICY_SCOPE_KIND_TENANT_DEFAULT)
    if kind == "client" and value:
        return pb.PolicyScope(kind=pb.POLICY_SCOPE_KIND_CLIENT, client_id=value)
    if kind == "queue" and value:
        return pb.PolicyScope(kind=pb.POLICY_SCOPE_KIND_QUEUE, queue=value)
    raise CliError(f"bad scope {text!r}: use default, client:ID or queue:NAME", code=2)


def parse_since(text: str) -> datetime:
    """An ISO instant, or a span back from now such as ``24h`` or ``7d``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC) - parse_duration(text).ToTimedelta()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _status(name: str) -> int:
    try:
        return int(tickets_pb.TicketStatus.Value(f"TICKET_STATUS_{name.upper()}"))
    except ValueError as exc:
        raise CliError(f"unknown status {name!r}", code=2) from exc


def _request_id() -> str:
    return str(uuid.uuid4())


# --- calendars ---------------------------------------------------------------------------------


def _calendar_from(args: argparse.Namespace) -> tuple[pb.Calendar, list[str]]:
    calendar = pb.Calendar()
    paths: list[str] = []
    if args.name is not None:
        calendar.display_name = args.name
        paths.append("display_name")
    if args.zone is not None:
        calendar.time_zone = args.zone
        paths.append("time_zone")
    if args.always_open is not None:
        calendar.always_open = args.always_open
        paths.append("always_open")
    if args.shift:
        calendar.shifts.extend(parse_shift(s) for s in args.shift)
        paths.append("shifts")
    if args.holiday_set:
        for text in args.holiday_set:
            code, _, categories = text.partition(":")
            country, _, subdivision = code.partition("-")
            calendar.holiday_sets.append(
                pb.HolidaySet(
                    country_code=country.strip().upper(),
                    subdivision_code=subdivision.strip().upper(),
                    categories=[c.strip() for c in categories.split(",") if c.strip()],
                )
            )
        paths.append("holiday_sets")
    return calendar, paths


def _calendar_rows(calendars: Sequence[pb.Calendar]) -> list[list[Any]]:
    return [
        [
            c.id,
            c.display_name,
            c.time_zone,
            "24x7" if c.always_open else f"{len(c.shifts)} shifts",
            len(c.holidays) + len(c.holiday_sets),
            c.version,
        ]
        for c in calendars
    ]


def _calendars(ctx: CliContext, args: argparse.Namespace) -> int:
    action = args.action
    if action == "create":
        calendar, _ = _calendar_from(args)
        reply = _call(
            ctx,
            "CreateCalendar",
            api.CreateCalendarRequest(request_id=_request_id(), calendar=calendar),
        )
        print_fields(ctx, reply.calendar)
    elif action == "list":
        reply = _call(ctx, "ListCalendars", api.ListCalendarsRequest(page_size=args.page_size))
        emit(
            ctx,
            reply,
            rows=_calendar_rows(reply.calendars),
            headers=["id", "name", "zone", "hours", "holidays", "version"],
        )
    elif action == "show":
        reply = _call(ctx, "GetCalendar", api.GetCalendarRequest(calendar_id=args.id))
        print_fields(ctx, reply.calendar)
    elif action == "update":
        calendar, paths = _calendar_from(args)
        if not paths:
            raise CliError("nothing to update", code=2)
        current = _call(ctx, "GetCalendar", api.GetCalendarRequest(calendar_id=args.id)).calendar
        calendar.id, calendar.etag = args.id, current.etag
        reply = _call(
            ctx,
            "UpdateCalendar",
            api.UpdateCalendarRequest(
                request_id=_request_id(),
                calendar=calendar,
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
        )
        print_fields(ctx, reply.calendar)
    elif action == "delete":
        _call(
            ctx,
            "DeleteCalendar",
            api.DeleteCalendarRequest(request_id=_request_id(), calendar_id=args.id),
        )
        emit(ctx, {"deleted": args.id}) if ctx.json else print(f"deleted {args.id}")
    elif action == "add-holiday":
        holiday = pb.Holiday(display_name=args.name)
        if args.date:
            day = datetime.strptime(args.date, "%Y-%m-%d").date()
            holiday.date.CopyFrom(time_pb2.Date(year=day.year, month=day.month, day=day.day))
        elif args.yearly:
            month, day_of_month = (int(p) for p in args.yearly.split("-"))
            holiday.yearly.CopyFrom(time_pb2.MonthDay(month=month, day=day_of_month))
        if args.closed:
            start, _, end = args.closed.partition("-")
            holiday.closed_start.CopyFrom(_time_of_day(start))
            holiday.closed_end.CopyFrom(_time_of_day(end))
        reply = _call(
            ctx,
            "AddHoliday",
            api.AddHolidayRequest(request_id=_request_id(), calendar_id=args.id, holiday=holiday),
        )
        print_fields(ctx, reply.holiday)
    elif action == "remove-holiday":
        reply = _call(
            ctx,
            "RemoveHoliday",
            api.RemoveHolidayRequest(
                request_id=_request_id(), calendar_id=args.id, holiday_id=args.holiday_id
            ),
        )
        print_fields(ctx, reply.calendar)
    return 0


# --- policies ----------------------------------------------------------------------------------


def _policy_from(args: argparse.Namespace) -> tuple[pb.SlaPolicy, list[str]]:
    policy = pb.SlaPolicy()
    paths: list[str] = []
    if args.name is not None:
        policy.display_name = args.name
        paths.append("display_name")
    if args.scope is not None:
        policy.scope.CopyFrom(parse_scope(args.scope))
        paths.append("scope")
    if args.calendar is not None:
        policy.calendar_id = args.calendar
        paths.append("calendar_id")
    if args.target:
        policy.targets.extend(parse_target(t) for t in args.target)
        paths.append("targets")
    if args.threshold or args.at:
        policy.thresholds.extend(build_thresholds(args.at or (), args.threshold or ()))
        paths.append("thresholds")
    if args.pause is not None:
        policy.pause_statuses.extend(_status(s) for s in args.pause if s)  # type: ignore[misc]
        paths.append("pause_statuses")
    return policy, paths


def _targets_text(policy: pb.SlaPolicy) -> str:
    def one(target: pb.SlaTarget, present: bool) -> str:
        if not present:
            return "-"
        return str(target.duration.ToTimedelta()) + ("" if target.business_time else "@24x7")

    return ", ".join(
        f"P{int(t.priority)}={one(t.first_response, t.HasField('first_response'))}"
        f"/{one(t.resolution, t.HasField('resolution'))}"
        for t in policy.targets
    )


def _policies(ctx: CliContext, args: argparse.Namespace) -> int:
    action = args.action
    if action == "create":
        policy, _ = _policy_from(args)
        reply = _call(
            ctx,
            "CreateSlaPolicy",
            api.CreateSlaPolicyRequest(request_id=_request_id(), sla_policy=policy),
        )
        print_fields(ctx, reply.sla_policy)
    elif action == "list":
        reply = _call(ctx, "ListSlaPolicies", api.ListSlaPoliciesRequest(page_size=args.page_size))
        rows = [
            [
                p.id,
                p.display_name,
                enum_name(pb.PolicyScopeKind, p.scope.kind, "POLICY_SCOPE_KIND_")
                + (f":{p.scope.client_id or p.scope.queue}" if p.scope.kind > 1 else ""),
                p.calendar_id,
                _targets_text(p),
                thresholds_text(p.thresholds),
                p.version,
            ]
            for p in reply.sla_policies
        ]
        emit(
            ctx,
            reply,
            rows=rows,
            headers=["id", "name", "scope", "calendar", "targets", "thresholds", "version"],
        )
    elif action == "show":
        reply = _call(ctx, "GetSlaPolicy", api.GetSlaPolicyRequest(sla_policy_id=args.id))
        print_fields(ctx, reply.sla_policy)
    elif action == "update":
        policy, paths = _policy_from(args)
        if not paths:
            raise CliError("nothing to update", code=2)
        current = _call(
            ctx, "GetSlaPolicy", api.GetSlaPolicyRequest(sla_policy_id=args.id)
        ).sla_policy
        policy.id, policy.etag = args.id, current.etag
        reply = _call(
            ctx,
            "UpdateSlaPolicy",
            api.UpdateSlaPolicyRequest(
                request_id=_request_id(),
                sla_policy=policy,
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
        )
        print_fields(ctx, reply.sla_policy)
    elif action == "delete":
        _call(
            ctx,
            "DeleteSlaPolicy",
            api.DeleteSlaPolicyRequest(request_id=_request_id(), sla_policy_id=args.id),
        )
        emit(ctx, {"deleted": args.id}) if ctx.json else print(f"deleted {args.id}")
    return 0


# --- sla ---------------------------------------------------------------------------------------


def _sla(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.action == "show":
        reply = _call(ctx, "GetTicketSla", api.GetTicketSlaRequest(ticket_id=args.ticket))
        emit(ctx, reply, rows=clock_rows(reply.ticket_sla.clocks), headers=CLOCK_HEADERS)
        return 0
    if args.action == "show-many":
        batch = _call(
            ctx, "BatchGetTicketSla", api.BatchGetTicketSlaRequest(ticket_ids=args.tickets)
        )
        rows = [
            [
                s.ticket.ticket_id,
                enum_name(pb.SlaTargetKind, c.kind, "SLA_TARGET_KIND_"),
                enum_name(pb.SlaState, c.state, "SLA_STATE_"),
                short_time(c.due_time),
                f"{c.percent_used:.1f}%",
            ]
            for s in batch.ticket_slas
            for c in s.clocks
        ]
        emit(ctx, batch, rows=rows, headers=["ticket", "target", "state", "due", "used"])
        return 0
    request = api.ListBreachesRequest(page_size=args.page_size)
    if args.since:
        request.since_time.CopyFrom(to_timestamp(parse_since(args.since)))
    reply = _call(ctx, "ListBreaches", request)
    rows = [
        [
            b.ticket.number,
            b.ticket.ticket_id,
            enum_name(pb.SlaTargetKind, b.target_kind, "SLA_TARGET_KIND_"),
            enum_name(tickets_pb.Priority, b.ticket.priority, "PRIORITY_"),
            b.ticket.client_name,
            short_time(b.due_time),
            short_time(b.breach_time),
            short_time(b.met_time),
            short_time(b.cancel_time),
        ]
        for b in reply.breaches
    ]
    emit(
        ctx,
        reply,
        rows=rows,
        headers=BREACH_HEADERS,
    )
    return 0


def register(subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
    """Add ``calendars``, ``policies`` and ``sla`` to the ``triage`` command."""
    calendars = subparsers.add_parser("calendars", parents=parents, help="business-hours calendars")
    cal = calendars.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, needs_id in (("create", False), ("update", True)):
        cmd = cal.add_parser(name, parents=parents, help=f"{name} a calendar")
        if needs_id:
            cmd.add_argument("id")
        cmd.add_argument("--name", required=not needs_id)
        cmd.add_argument("--zone", required=not needs_id, help="IANA zone, e.g. Europe/London")
        cmd.add_argument("--shift", action="append", help="e.g. 'mon-fri 09:00-17:00' (repeat)")
        cmd.add_argument(
            "--always-open", action=argparse.BooleanOptionalAction, default=None, help="24x7"
        )
        cmd.add_argument(
            "--holiday-set",
            action="append",
            help="country[-subdivision][:categories], e.g. US-NY or NL:public,optional (repeat)",
        )
    listing = cal.add_parser("list", parents=parents, help="list calendars")
    listing.add_argument("--page-size", type=int, default=100)
    for name in ("show", "delete"):
        cal.add_parser(name, parents=parents, help=f"{name} a calendar").add_argument("id")
    add = cal.add_parser("add-holiday", parents=parents, help="add a holiday or closure")
    add.add_argument("id")
    add.add_argument("--name", required=True)
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--date", help="YYYY-MM-DD")
    when.add_argument("--yearly", help="MM-DD, every year")
    add.add_argument("--closed", help="partial-day closure HH:MM-HH:MM (default: all day)")
    remove = cal.add_parser("remove-holiday", parents=parents, help="remove a holiday")
    remove.add_argument("id")
    remove.add_argument("holiday_id")
    calendars.set_defaults(handler=_calendars)

    policies = subparsers.add_parser("policies", parents=parents, help="SLA policies")
    pol = policies.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, needs_id in (("create", False), ("update", True)):
        cmd = pol.add_parser(name, parents=parents, help=f"{name} a policy")
        if needs_id:
            cmd.add_argument("id")
        cmd.add_argument("--name", required=not needs_id)
        cmd.add_argument("--scope", required=not needs_id, help="default, client:ID or queue:NAME")
        cmd.add_argument("--calendar", help="calendar id for business-time targets")
        cmd.add_argument(
            "--target", action="append", help="P3=1h/8h, P1=15m/1h@24x7 (repeat per priority)"
        )
        cmd.add_argument("--threshold", action="append", type=int, help="percent (repeat)")
        cmd.add_argument(
            "--at",
            action="append",
            metavar="PCT:ACTION",
            help="threshold action (repeat), e.g. 75:notify=CHANNEL_ID, 100:notify=default, "
            "100:escalate=+1, 90:escalate=P1, 90:reassign=queue:tier-2, 50@first_response; "
            "on update the given thresholds replace all",
        )
        cmd.add_argument(
            "--pause", nargs="*", default=None, help="statuses that pause, e.g. awaiting_customer"
        )
    listing = pol.add_parser("list", parents=parents, help="list policies")
    listing.add_argument("--page-size", type=int, default=100)
    for name in ("show", "delete"):
        pol.add_parser(name, parents=parents, help=f"{name} a policy").add_argument("id")
    policies.set_defaults(handler=_policies)

    sla = subparsers.add_parser("sla", parents=parents, help="ticket clocks and breaches")
    sub = sla.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("show", parents=parents, help="a ticket's clocks").add_argument("ticket")
    sla_audit.register(sub, parents)
    many = sub.add_parser("show-many", parents=parents, help="many tickets' clocks in one call")
    many.add_argument("tickets", nargs="+", help="ticket ids (UUIDs), at most 200")
    breaches = sub.add_parser("breaches", parents=parents, help="breached targets, newest first")
    breaches.add_argument("--since", help="ISO instant or a span back from now, e.g. 24h")
    breaches.add_argument("--page-size", type=int, default=100)
    sla.set_defaults(handler=_sla)
