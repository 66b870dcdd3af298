"""The TicketsService gRPC servicer: proto <-> domain, scopes, request validation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import grpc
from google.protobuf import json_format

from services.tickets.api.incidents import IncidentsApi
from services.tickets.convert import (
    comment_to_proto,
    history_to_proto,
    settings_from_proto,
    settings_to_proto,
    settings_violations,
    ticket_to_proto,
    time_entry_to_proto,
)
from services.tickets.domain.tickets import (
    UPDATABLE_FIELDS,
    AuthorKind,
    Comment,
    Priority,
    Source,
    Status,
    Ticket,
    TicketFilter,
    TimeEntry,
    Visibility,
)
from services.tickets.service import TicketService
from services.tickets.service.base import Actor, TicketRef
from triage.runtime import (
    FieldViolation,
    IdempotentReply,
    InvalidArgument,
    caller,
    decode_page_token,
    encode_page_token,
    from_timestamp,
    is_uuid,
    page_size,
    require_uuid,
)
from triage.tickets.v1 import resources_pb2 as res
from triage.tickets.v1 import tickets_service_pb2 as pb
from triage.tickets.v1 import tickets_service_pb2_grpc as pb_grpc

READ = "tickets:read"
WRITE = "tickets:write"
SERVICE_NAME = "triage.tickets.v1.TicketsService"
CHILD_DEFAULT_PAGE = 100
CHILD_MAX_PAGE = 1000
MAX_TIME_ENTRY_SECONDS = 24 * 3600
_TEXT_FIELDS = (
    "title",
    "description",
    "queue",
    "assignee",
    "client_id",
    "client_name",
    "site_id",
    "site_name",
    "device_id",
    "device_name",
)


def _caller(scope: str) -> tuple[str, Actor]:
    who = caller(scope)
    return who.tenant_id, Actor(who.principal.subject, is_human=who.is_human)


def parse_ref(value: str, field: str = "ticket_id") -> TicketRef:
    """A ticket reference: its UUID, or its number as ``#1042`` (or ``1042``)."""
    text = value.strip()
    if not text:
        raise InvalidArgument.field(field, "is required")
    digits = text.removeprefix("#")
    if digits.isdigit():
        return int(digits)
    if is_uuid(text):
        return text.lower()
    raise InvalidArgument.field(field, "must be a ticket UUID or a number like #1042")


def _request_id(value: str) -> str:
    return require_uuid(value, "request_id") if value else value


def _child_page(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or CHILD_DEFAULT_PAGE, CHILD_MAX_PAGE)


def _seq_token(token: str, filters: dict[str, Any]) -> int:
    position = decode_page_token(token, filters=filters)
    if position is None:
        return 0
    seq = position.get("s")
    if not isinstance(seq, int):
        raise InvalidArgument.field("page_token", "not a token this service issued")
    return seq


def _next_seq(seq: Any, filters: dict[str, Any]) -> str:
    return "" if seq is None else encode_page_token({"s": seq}, filters=filters)


def _enum(
    kind: type[Status] | type[Priority],
    value: int,
    field: str,
    violations: list[FieldViolation],
) -> Any:
    try:
        member = kind(value)
    except ValueError:
        violations.append(FieldViolation(field, "is not a known value"))
        return None
    if member.value == 0:
        violations.append(FieldViolation(field, "must be set"))
        return None
    return member


def _raise(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(
            "; ".join(f"{v.field}: {v.description}" for v in violations), violations=violations
        )


def _reply_ticket(method: str, request_id: str, response: Any) -> IdempotentReply[Ticket, Any]:
    return IdempotentReply(
        method, _request_id(request_id), response, lambda t: response(ticket=ticket_to_proto(t))
    )


class TicketsApi(IncidentsApi, pb_grpc.TicketsServiceServicer):
    """Serves TicketsService over the ticket use cases."""

    def __init__(self, service: TicketService) -> None:
        self._svc = service

    async def CreateTicket(
        self, request: pb.CreateTicketRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CreateTicketResponse:
        """Create a manual ticket."""
        tenant, actor = _caller(WRITE)
        given = request.ticket
        violations: list[FieldViolation] = []
        if not given.title.strip():
            violations.append(FieldViolation("ticket.title", "is required"))
        priority = Priority.P3
        if given.priority:
            priority = _enum(Priority, given.priority, "ticket.priority", violations)
        status = Status.NEW
        if given.status:
            status = _enum(Status, given.status, "ticket.status", violations)
        _raise(violations)
        draft = Ticket(
            id="",
            tenant_id=tenant,
            number=0,
            priority=priority,
            status=status,
            source=Source.MANUAL,
            **{name: getattr(given, name).strip() for name in _TEXT_FIELDS},
        )
        reply = _reply_ticket("CreateTicket", request.request_id, pb.CreateTicketResponse)
        result: pb.CreateTicketResponse = await self._svc.create_ticket(
            tenant_id=tenant, actor=actor, draft=draft, reply=reply
        )
        return result

    async def GetTicket(
        self, request: pb.GetTicketRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetTicketResponse:
        """Get one ticket by id or number."""
        tenant, _ = _caller(READ)
        ticket = await self._svc.get_ticket(tenant_id=tenant, ref=parse_ref(request.ticket_id))
        return pb.GetTicketResponse(ticket=ticket_to_proto(ticket))

    async def ListTickets(
        self, request: pb.ListTicketsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListTicketsResponse:
        """List tickets newest first, filtered, in keyset pages."""
        tenant, _ = _caller(READ)
        limit = page_size(request.page_size)
        filters_msg = pb.ListTicketsRequest()
        filters_msg.CopyFrom(request)
        filters_msg.ClearField("page_size")
        filters_msg.ClearField("page_token")
        filters = json_format.MessageToDict(filters_msg)
        position = decode_page_token(request.page_token, filters=filters)
        after: tuple[datetime, str] | None = None
        if position is not None:
            try:
                after = (datetime.fromisoformat(position["c"]), str(position["i"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidArgument.field(
                    "page_token", "not a token this service issued"
                ) from exc
        violations: list[FieldViolation] = []
        statuses = tuple(
            s
            for i, v in enumerate(request.statuses)
            if (s := _enum(Status, v, f"statuses[{i}]", violations)) is not None
        )
        priorities = tuple(
            p
            for i, v in enumerate(request.priorities)
            if (p := _enum(Priority, v, f"priorities[{i}]", violations)) is not None
        )
        try:
            source = Source(request.source)
        except ValueError:
            violations.append(FieldViolation("source", "is not a known value"))
            source = Source.UNSPECIFIED
        _raise(violations)
        where = TicketFilter(
            statuses=statuses,
            open=request.open if request.HasField("open") else None,
            priorities=priorities,
            queue=request.queue,
            assignee=request.assignee,
            client_id=request.client_id,
            device_id=request.device_id,
            source=source,
            series_key=request.series_key,
            dedup_key=request.dedup_key,
            start=from_timestamp(request.start_time) if request.HasField("start_time") else None,
            end=from_timestamp(request.end_time) if request.HasField("end_time") else None,
            query=request.query.strip(),
        )
        page = await self._svc.list_tickets(tenant_id=tenant, where=where, after=after, limit=limit)
        token = ""
        if page.next_position is not None:
            created, ticket_id = page.next_position
            token = encode_page_token({"c": created.isoformat(), "i": ticket_id}, filters=filters)
        return pb.ListTicketsResponse(
            tickets=[ticket_to_proto(t) for t in page.items], next_page_token=token
        )

    async def UpdateTicket(
        self, request: pb.UpdateTicketRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UpdateTicketResponse:
        """Update the masked fields, checking the etag."""
        tenant, actor = _caller(WRITE)
        given = request.ticket
        ref = parse_ref(given.id, "ticket.id")
        violations: list[FieldViolation] = []
        paths = list(request.update_mask.paths)
        if not paths:
            violations.append(FieldViolation("update_mask", "must name at least one field"))
        values: dict[str, Any] = {}
        for i, path in enumerate(paths):
            if path not in UPDATABLE_FIELDS:
                violations.append(
                    FieldViolation(f"update_mask.paths[{i}]", f"{path!r} cannot be updated")
                )
            elif path == "priority":
                values[path] = _enum(Priority, given.priority, "ticket.priority", violations)
            elif path == "status":
                values[path] = _enum(Status, given.status, "ticket.status", violations)
            else:
                values[path] = getattr(given, path).strip()
                if path == "title" and not values[path]:
                    violations.append(FieldViolation("ticket.title", "must not be empty"))
        _raise(violations)
        result: pb.UpdateTicketResponse = await self._svc.update_ticket(
            tenant_id=tenant,
            actor=actor,
            ref=ref,
            etag=given.etag,
            values=values,
            reply=_reply_ticket("UpdateTicket", request.request_id, pb.UpdateTicketResponse),
        )
        return result

    async def AddComment(
        self, request: pb.AddCommentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.AddCommentResponse:
        """Add a comment (a person's comment is a human touch)."""
        tenant, actor = _caller(WRITE)
        ref = parse_ref(request.ticket_id)
        given = request.comment
        violations: list[FieldViolation] = []
        if not given.body.strip():
            violations.append(FieldViolation("comment.body", "is required"))
        try:
            visibility = Visibility(given.visibility)
        except ValueError:
            visibility = Visibility.UNSPECIFIED
        if visibility is Visibility.UNSPECIFIED:
            violations.append(FieldViolation("comment.visibility", "must be PUBLIC or INTERNAL"))
        requested = given.author_kind
        if actor.is_human:
            if requested == res.AUTHOR_KIND_SYSTEM:
                violations.append(
                    FieldViolation(
                        "comment.author_kind", "only Triage services may write system comments"
                    )
                )
            author_kind = AuthorKind.HUMAN
        else:
            author_kind = (
                AuthorKind.HUMAN if requested == res.AUTHOR_KIND_HUMAN else AuthorKind.SYSTEM
            )
        _raise(violations)

        def render(result: tuple[Comment, Ticket]) -> pb.AddCommentResponse:
            comment, ticket = result
            return pb.AddCommentResponse(comment=comment_to_proto(comment), ticket_etag=ticket.etag)

        response: pb.AddCommentResponse = await self._svc.add_comment(
            tenant_id=tenant,
            actor=actor,
            ref=ref,
            body=given.body.strip(),
            visibility=visibility,
            author_kind=author_kind,
            reply=IdempotentReply(
                "AddComment", _request_id(request.request_id), pb.AddCommentResponse, render
            ),
        )
        return response

    async def ListComments(
        self, request: pb.ListCommentsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListCommentsResponse:
        """List a ticket's comments, oldest first."""
        tenant, _ = _caller(READ)
        ref = parse_ref(request.ticket_id)
        limit = _child_page(request.page_size)
        try:
            visibility = Visibility(request.visibility)
        except ValueError as exc:
            raise InvalidArgument.field("visibility", "is not a known value") from exc
        filters = {"t": request.ticket_id, "v": int(visibility)}
        page = await self._svc.list_comments(
            tenant_id=tenant,
            ref=ref,
            visibility=visibility,
            after_seq=_seq_token(request.page_token, filters),
            limit=limit,
        )
        return pb.ListCommentsResponse(
            comments=[comment_to_proto(c) for c in page.items],
            next_page_token=_next_seq(page.next_position, filters),
        )

    async def AddTimeEntry(
        self, request: pb.AddTimeEntryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.AddTimeEntryResponse:
        """Log time on a ticket (a human touch)."""
        tenant, actor = _caller(WRITE)
        ref = parse_ref(request.ticket_id)
        given = request.time_entry
        violations: list[FieldViolation] = []
        duration = given.duration.ToTimedelta()
        if not given.HasField("duration") or duration.total_seconds() <= 0:
            violations.append(FieldViolation("time_entry.duration", "must be positive"))
        elif duration.total_seconds() > MAX_TIME_ENTRY_SECONDS:
            violations.append(FieldViolation("time_entry.duration", "must be at most 24 hours"))
        _raise(violations)

        def render(result: tuple[TimeEntry, Ticket]) -> pb.AddTimeEntryResponse:
            entry, ticket = result
            return pb.AddTimeEntryResponse(
                time_entry=time_entry_to_proto(entry), ticket_etag=ticket.etag
            )

        response: pb.AddTimeEntryResponse = await self._svc.add_time_entry(
            tenant_id=tenant,
            actor=actor,
            ref=ref,
            duration=duration,
            start_at=from_timestamp(given.start_time) if given.HasField("start_time") else None,
            note=given.note.strip(),
            billable=given.billable,
            reply=IdempotentReply(
                "AddTimeEntry", _request_id(request.request_id), pb.AddTimeEntryResponse, render
            ),
        )
        return response

    async def ListTimeEntries(
        self, request: pb.ListTimeEntriesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListTimeEntriesResponse:
        """List a ticket's time entries, oldest first."""
        tenant, _ = _caller(READ)
        ref = parse_ref(request.ticket_id)
        filters = {"t": request.ticket_id}
        page = await self._svc.list_time_entries(
            tenant_id=tenant,
            ref=ref,
            after_seq=_seq_token(request.page_token, filters),
            limit=_child_page(request.page_size),
        )
        return pb.ListTimeEntriesResponse(
            time_entries=[time_entry_to_proto(e) for e in page.items],
            next_page_token=_next_seq(page.next_position, filters),
        )

    async def CloseTicket(
        self, request: pb.CloseTicketRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CloseTicketResponse:
        """Close a ticket through the close path."""
        tenant, actor = _caller(WRITE)
        result: pb.CloseTicketResponse = await self._svc.close_ticket(
            tenant_id=tenant,
            actor=actor,
            ref=parse_ref(request.ticket_id),
            etag=request.etag,
            resolution=request.resolution.strip(),
            reset_alert=request.reset_alert if request.HasField("reset_alert") else None,
            reply=_reply_ticket("CloseTicket", request.request_id, pb.CloseTicketResponse),
        )
        return result

    async def ReopenTicket(
        self, request: pb.ReopenTicketRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReopenTicketResponse:
        """Reopen a closed ticket."""
        tenant, actor = _caller(WRITE)
        result: pb.ReopenTicketResponse = await self._svc.reopen_ticket(
            tenant_id=tenant,
            actor=actor,
            ref=parse_ref(request.ticket_id),
            etag=request.etag,
            reason=request.reason.strip(),
            reply=_reply_ticket("ReopenTicket", request.request_id, pb.ReopenTicketResponse),
        )
        return result

    async def ListTicketHistory(
        self, request: pb.ListTicketHistoryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListTicketHistoryResponse:
        """List a ticket's history, oldest first."""
        tenant, _ = _caller(READ)
        ref = parse_ref(request.ticket_id)
        filters = {"t": request.ticket_id}
        page = await self._svc.list_history(
            tenant_id=tenant,
            ref=ref,
            after_seq=_seq_token(request.page_token, filters),
            limit=_child_page(request.page_size),
        )
        return pb.ListTicketHistoryResponse(
            history_entries=[history_to_proto(h) for h in page.items],
            next_page_token=_next_seq(page.next_position, filters),
        )

    async def GetTenantSettings(
        self, request: pb.GetTenantSettingsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetTenantSettingsResponse:
        """The caller's tenant's ticket settings."""
        tenant, _ = _caller(READ)
        settings = await self._svc.get_settings(tenant_id=tenant)
        return pb.GetTenantSettingsResponse(settings=settings_to_proto(settings))

    async def UpdateTenantSettings(
        self, request: pb.UpdateTenantSettingsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.UpdateTenantSettingsResponse:
        """Change the masked settings, checking the etag."""
        tenant, actor = _caller(WRITE)
        paths, given = list(request.update_mask.paths), request.settings
        _raise(settings_violations(given, paths))
        result: pb.UpdateTenantSettingsResponse = await self._svc.update_settings(
            tenant_id=tenant,
            actor=actor.subject,
            etag=given.etag,
            paths=paths,
            merge=lambda current: settings_from_proto(given, paths, current),
            reply=IdempotentReply(
                "UpdateTenantSettings",
                _request_id(request.request_id),
                pb.UpdateTenantSettingsResponse,
                lambda s: pb.UpdateTenantSettingsResponse(settings=settings_to_proto(s)),
            ),
        )
        return result
