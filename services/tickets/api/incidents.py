"""TicketsService's incident RPCs (issue 19): list, get, move a member out, merge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc

from services.tickets.convert import incident_detail_to_proto, incident_to_proto
from services.tickets.service import TicketService
from services.tickets.service.base import Actor
from triage.runtime import (
    InvalidArgument,
    caller,
    decode_page_token,
    encode_page_token,
    page_size,
    require_uuid,
)
from triage.tickets.v1 import incidents_pb2 as pb

READ = "tickets:read"
WRITE = "tickets:write"


def _who(scope: str) -> tuple[str, Actor]:
    who = caller(scope)
    return who.tenant_id, Actor(who.principal.subject, is_human=who.is_human)


class IncidentsApi:
    """The incident RPCs of TicketsService (a part of :class:`TicketsApi`)."""

    _svc: TicketService

    async def ListIncidents(
        self, request: pb.ListIncidentsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListIncidentsResponse:
        """List incidents newest first, in keyset pages."""
        tenant, _ = _who(READ)
        limit = page_size(request.page_size)
        filters = {"open_only": request.open_only}
        position = decode_page_token(request.page_token, filters=filters)
        before: tuple[datetime, str] | None = None
        if position is not None:
            try:
                before = (datetime.fromisoformat(position["s"]), str(position["i"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidArgument.field(
                    "page_token", "not a token this service issued"
                ) from exc
        views = await self._svc.list_incidents(
            tenant_id=tenant, open_only=request.open_only, limit=limit + 1, before=before
        )
        token = ""
        if len(views) > limit:
            views = views[:limit]
            last = views[-1].incident
            token = encode_page_token(
                {"s": last.started_at.isoformat(), "i": last.id}, filters=filters
            )
        return pb.ListIncidentsResponse(
            incidents=[incident_to_proto(v) for v in views], next_page_token=token
        )

    async def GetIncident(
        self, request: pb.GetIncidentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetIncidentResponse:
        """One incident with its members and timeline."""
        tenant, _ = _who(READ)
        incident_id = require_uuid(request.incident_id, "incident_id")
        detail = await self._svc.get_incident(tenant_id=tenant, incident_id=incident_id)
        return incident_detail_to_proto(detail)

    async def MoveIncidentMember(
        self, request: pb.MoveIncidentMemberRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.MoveIncidentMemberResponse:
        """Take a member out of its incident (a human touch)."""
        tenant, actor = _who(WRITE)
        incident_id = require_uuid(request.incident_id, "incident_id")
        if not request.series_key.strip():
            raise InvalidArgument.field("series_key", "is required")
        detail = await self._svc.move_member(
            tenant_id=tenant, actor=actor, incident_id=incident_id, series_key=request.series_key
        )
        return pb.MoveIncidentMemberResponse(incident=incident_to_proto(detail.view))

    async def MergeIncidents(
        self, request: pb.MergeIncidentsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.MergeIncidentsResponse:
        """Merge one incident into another (a human touch of both parents)."""
        tenant, actor = _who(WRITE)
        target = require_uuid(request.target_incident_id, "target_incident_id")
        source = require_uuid(request.source_incident_id, "source_incident_id")
        detail = await self._svc.merge_incidents(
            tenant_id=tenant, actor=actor, target_id=target, source_id=source
        )
        return pb.MergeIncidentsResponse(incident=incident_to_proto(detail.view))
