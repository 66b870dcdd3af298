"""SLA: calendars with a week view, policies with thresholds and actions, breaches per week."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import timestamp_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.console import charts
from services.console import format as fmt
from services.console.web import call, call_or_none, page, render
from triage.sla.v1 import sla_service_pb2 as sla_api

WEEKS = 8
MAX_BREACH_PAGES = 10


def calendar_week(calendar: Any) -> list[charts.DayRow]:
    """A calendar's week view from its shifts (holidays are listed beside it)."""
    shifts = [
        (
            list(s.days),
            s.start.hours * 60 + s.start.minutes,
            s.end.hours * 60 + s.end.minutes,
        )
        for s in calendar.shifts
    ]
    return charts.week_view(shifts, always_open=calendar.always_open)


async def _breaches(request: Request, since: datetime) -> tuple[list[Any], bool]:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(since)
    req = sla_api.ListBreachesRequest(page_size=500, since_time=stamp)
    out: list[Any] = []
    for _ in range(MAX_BREACH_PAGES):
        reply = await call_or_none(request, "sla", "ListBreaches", req)
        if reply is None:
            return out, False
        out += reply.breaches
        if not reply.next_page_token:
            return out, False
        req.page_token = reply.next_page_token
    return out, True


async def sla_page(request: Request) -> Response:
    """Calendars, policies and the breaches report."""
    now = datetime.now(UTC)
    since = datetime.combine(charts.week_start(now), datetime.min.time(), UTC) - timedelta(
        weeks=WEEKS - 1
    )
    calendars, policies, (breaches, truncated) = await asyncio.gather(
        call(request, "sla", "ListCalendars", sla_api.ListCalendarsRequest(page_size=100)),
        call(request, "sla", "ListSlaPolicies", sla_api.ListSlaPoliciesRequest(page_size=100)),
        _breaches(request, since),
    )
    pairs = [
        (moment, fmt.when(b.met_time))
        for b in breaches
        if (moment := fmt.when(b.breach_time)) is not None
    ]
    counts = charts.per_week(pairs, now=now, weeks=WEEKS)
    return render(
        request,
        "sla.html",
        calendars=[(c, calendar_week(c)) for c in calendars.calendars],
        calendar_names={c.id: c.display_name for c in calendars.calendars},
        policies=list(policies.sla_policies),
        chart=charts.bar_chart(counts),
        counts=counts,
        breaches=breaches[:50],
        truncated=truncated,
    )


ROUTES = [page("/sla", sla_page)]
