"""Alerts: stored alert events with filters and cursor pages; one alert in full."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.console import format as fmt
from services.console.web import call, call_or_none, page, render
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import resources_pb2 as ingest_res
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

PAGE_SIZE = 50
_PROVIDER = {k.removeprefix("PROVIDER_").lower(): v for k, v in ingest_res.Provider.items()}
_SEVERITY = {k.removeprefix("SEVERITY_").lower(): v for k, v in ingest_res.Severity.items()}
_KIND = {k.removeprefix("ALERT_KIND_").lower(): v for k, v in ingest_res.AlertKind.items()}


def _stamp(text: str) -> timestamp_pb2.Timestamp | None:
    """A ``datetime-local`` value (read as UTC) as a Timestamp; None when empty or bad."""
    try:
        moment = datetime.fromisoformat(text).replace(tzinfo=UTC) if text else None
    except ValueError:
        return None
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def list_request(q: dict[str, str]) -> ingest_api.ListAlertEventsRequest:
    """The ListAlertEvents request for the page's query string (unknown values ignored)."""
    req = ingest_api.ListAlertEventsRequest(
        page_size=PAGE_SIZE,
        page_token=q.get("page_token", ""),
        client_id=q.get("client", ""),
        device_id=q.get("device", ""),
        series_key=q.get("series", ""),
    )
    if q.get("provider") in _PROVIDER:
        req.providers.append(_PROVIDER[q["provider"]])
    if q.get("kind") in _KIND:
        req.kinds.append(_KIND[q["kind"]])
    if q.get("severity") in _SEVERITY:
        req.min_severity = _SEVERITY[q["severity"]]
    if q.get("suppressed") in ("yes", "no"):
        req.suppressed = q["suppressed"] == "yes"
    for name, attr in (("from", "start_time"), ("to", "end_time")):
        stamp = _stamp(q.get(name, ""))
        if stamp is not None:
            getattr(req, attr).CopyFrom(stamp)
    return req


async def alert_list(request: Request) -> Response:
    """Filtered alert events, newest first, one cursor page at a time."""
    q = dict(request.query_params)
    reply = await call(request, "ingest", "ListAlertEvents", list_request(q))
    keep = {k: v for k, v in q.items() if k != "page_token" and v}
    return render(
        request,
        "alerts.html",
        alerts=list(reply.alert_events),
        next_token=reply.next_page_token,
        filters=keep,
    )


async def alert_page(request: Request) -> Response:
    """One alert: normalized fields, the decision logged when it arrived and a dry run of
    the rules in force now, its ticket, the raw payload."""
    alert_id = request.path_params["alert_id"]
    reply = await call(
        request,
        "ingest",
        "GetAlertEvent",
        ingest_api.GetAlertEventRequest(alert_id=alert_id, view=ingest_res.ALERT_EVENT_VIEW_FULL),
    )
    alert = reply.alert_event
    logged, decision, tickets = await asyncio.gather(
        call_or_none(
            request,
            "rules",
            "GetAlertDecision",
            rules_api.GetAlertDecisionRequest(alert_id=alert.alert_id),
        ),
        call_or_none(
            request,
            "rules",
            "EvaluateAlert",
            rules_api.EvaluateAlertRequest(alert_id=alert.alert_id),
        ),
        call_or_none(
            request,
            "tickets",
            "ListTickets",
            tickets_api.ListTicketsRequest(series_key=alert.series_key, page_size=5),
        ),
    )
    return render(
        request,
        "alert.html",
        alert=alert,
        labels=sorted(alert.labels.items()),
        logged=logged,
        decision=decision.decision if decision is not None else None,
        rule_names={
            r.rule_id: r.rule_display_name
            for r in (decision.decision.rule_explanations if decision is not None else [])
        },
        tickets=list(tickets.tickets) if tickets is not None else [],
        raw=fmt.pretty_payload(alert.raw_body, alert.raw_content_type),
    )


ROUTES = [page("/alerts", alert_list), page("/alerts/{alert_id}", alert_page)]
