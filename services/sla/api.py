"""The SlaService gRPC servicer: proto <-> domain, scopes, paging; no SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from services.sla.convert import (
    KIND_FROM_PB,
    audit_to_proto,
    breach_to_proto,
    calendar_from_proto,
    calendar_to_proto,
    holiday_from_proto,
    holiday_to_proto,
    policy_from_proto,
    policy_to_proto,
    ticket_sla_to_proto,
)
from services.sla.domain.calendar_spec import CalendarSpec, HolidayRule
from services.sla.domain.policy import PolicySpec, ScopeKind
from services.sla.domain.stored import Stored
from services.sla.domain.ticket import BreachFilter
from services.sla.domain.violation import Violation
from services.sla.errors import SlaInvalid
from services.sla.service import SlaService
from triage.runtime import (
    IdempotentReply,
    InvalidArgument,
    caller,
    decode_page_token,
    encode_page_token,
    from_timestamp,
    page_of,
    page_size,
)
from triage.sla.v1 import sla_service_pb2 as api
from triage.sla.v1 import sla_service_pb2_grpc as api_grpc

READ = "sla:read"
WRITE = "sla:write"
SERVICE_NAME = "triage.sla.v1.SlaService"

CALENDAR_FIELDS = {
    "display_name": "name",
    "time_zone": "zone",
    "always_open": "always_open",
    "shifts": "shifts",
    "holidays": "holidays",
    "holiday_sets": "holiday_sets",
}
POLICY_FIELDS = {
    "display_name": ("name",),
    "scope": ("scope", "client_id", "queue"),
    "scope.kind": ("scope",),
    "scope.client_id": ("client_id",),
    "scope.queue": ("queue",),
    "calendar_id": ("calendar_id",),
    "targets": ("targets",),
    "thresholds": ("thresholds",),
    "pause_statuses": ("pause_statuses",),
    "first_response": ("first_response",),
}


def _new_ids() -> Iterator[str]:
    while True:
        yield str(uuid.uuid4())


def _limit(requested: int, *, default: int, maximum: int) -> int:
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(requested or default, maximum)


def _mask(paths: Sequence[str], known: dict[str, Any]) -> list[str]:
    unknown = [p for p in paths if p not in known]
    if unknown:
        raise InvalidArgument.field("update_mask", f"unknown or immutable fields: {unknown}")
    return list(paths) or [p for p in known if "." not in p]


def _relevant(problems: Sequence[Violation], prefix: str, paths: Sequence[str]) -> list[Violation]:
    return [
        p
        for p in problems
        if any(
            p.field == f"{prefix}.{path}" or p.field.startswith(f"{prefix}.{path}")
            for path in paths
        )
    ]


class SlaApi(api_grpc.SlaServiceServicer):
    """Calendars, holidays, policies, and per-ticket clocks, breaches and audit."""

    def __init__(self, service: SlaService) -> None:
        self._service = service

    # --- calendars -----------------------------------------------------------------------------

    @staticmethod
    def _calendar(tenant_id: str, stored: Stored[CalendarSpec]) -> Any:
        return calendar_to_proto(
            stored.value, tenant_id=tenant_id, created=stored.created_at, updated=stored.updated_at
        )

    async def CreateCalendar(
        self, request: api.CreateCalendarRequest, context: Any
    ) -> api.CreateCalendarResponse:
        """Create a calendar."""
        tenant_id = caller(WRITE).tenant_id
        spec, problems = calendar_from_proto(
            request.calendar, calendar_id=str(uuid.uuid4()), holiday_ids=_new_ids()
        )
        return await self._service.create_calendar(
            tenant_id=tenant_id,
            spec=spec,
            problems=problems,
            answer=IdempotentReply(
                "CreateCalendar",
                request.request_id,
                api.CreateCalendarResponse,
                lambda s: api.CreateCalendarResponse(calendar=self._calendar(tenant_id, s)),
            ),
        )

    async def GetCalendar(
        self, request: api.GetCalendarRequest, context: Any
    ) -> api.GetCalendarResponse:
        """Get one calendar."""
        tenant_id = caller(READ).tenant_id
        stored = await self._service.get_calendar(
            tenant_id=tenant_id, calendar_id=request.calendar_id
        )
        return api.GetCalendarResponse(calendar=self._calendar(tenant_id, stored))

    async def ListCalendars(
        self, request: api.ListCalendarsRequest, context: Any
    ) -> api.ListCalendarsResponse:
        """List calendars in creation order."""
        tenant_id = caller(READ).tenant_id
        limit = page_size(request.page_size)
        position = decode_page_token(request.page_token, filters={})
        after = (datetime.fromisoformat(position["c"]), position["i"]) if position else None
        rows, more = page_of(
            await self._service.list_calendars(tenant_id=tenant_id, after=after, limit=limit + 1),
            limit,
        )
        token = ""
        if more:
            last = rows[-1]
            token = encode_page_token(
                {"c": last.created_at.isoformat(), "i": last.value.id}, filters={}
            )
        return api.ListCalendarsResponse(
            calendars=[self._calendar(tenant_id, r) for r in rows], next_page_token=token
        )

    async def UpdateCalendar(
        self, request: api.UpdateCalendarRequest, context: Any
    ) -> api.UpdateCalendarResponse:
        """Change the calendar fields named in the mask."""
        tenant_id = caller(WRITE).tenant_id
        paths = _mask(request.update_mask.paths, CALENDAR_FIELDS)
        patch, problems = calendar_from_proto(
            request.calendar, calendar_id=request.calendar.id, holiday_ids=_new_ids()
        )
        return await self._service.update_calendar(
            tenant_id=tenant_id,
            patch=patch,
            fields=[CALENDAR_FIELDS[p] for p in paths],
            etag=request.calendar.etag,
            problems=_relevant(problems, "calendar", paths),
            answer=IdempotentReply(
                "UpdateCalendar",
                request.request_id,
                api.UpdateCalendarResponse,
                lambda s: api.UpdateCalendarResponse(calendar=self._calendar(tenant_id, s)),
            ),
        )

    async def DeleteCalendar(
        self, request: api.DeleteCalendarRequest, context: Any
    ) -> api.DeleteCalendarResponse:
        """Delete a calendar that no policy uses."""
        tenant_id = caller(WRITE).tenant_id
        return await self._service.delete_calendar(
            tenant_id=tenant_id,
            calendar_id=request.calendar_id,
            etag=request.etag,
            answer=IdempotentReply(
                "DeleteCalendar",
                request.request_id,
                api.DeleteCalendarResponse,
                lambda _: api.DeleteCalendarResponse(),
            ),
        )

    async def AddHoliday(
        self, request: api.AddHolidayRequest, context: Any
    ) -> api.AddHolidayResponse:
        """Add a holiday or closure."""
        tenant_id = caller(WRITE).tenant_id
        problems: list[Violation] = []
        holiday = holiday_from_proto(
            request.holiday, holiday_id=str(uuid.uuid4()), path="holiday", bad=problems
        )

        def render(result: tuple[HolidayRule, Stored[CalendarSpec]]) -> api.AddHolidayResponse:
            rule, stored = result
            return api.AddHolidayResponse(
                holiday=holiday_to_proto(rule), calendar=self._calendar(tenant_id, stored)
            )

        return await self._service.add_holiday(
            tenant_id=tenant_id,
            calendar_id=request.calendar_id,
            holiday=holiday,
            problems=problems,
            answer=IdempotentReply(
                "AddHoliday", request.request_id, api.AddHolidayResponse, render
            ),
        )

    async def RemoveHoliday(
        self, request: api.RemoveHolidayRequest, context: Any
    ) -> api.RemoveHolidayResponse:
        """Remove a holiday."""
        tenant_id = caller(WRITE).tenant_id
        return await self._service.remove_holiday(
            tenant_id=tenant_id,
            calendar_id=request.calendar_id,
            holiday_id=request.holiday_id,
            answer=IdempotentReply(
                "RemoveHoliday",
                request.request_id,
                api.RemoveHolidayResponse,
                lambda s: api.RemoveHolidayResponse(calendar=self._calendar(tenant_id, s)),
            ),
        )

    # --- policies ------------------------------------------------------------------------------

    @staticmethod
    def _policy(tenant_id: str, stored: Stored[PolicySpec]) -> Any:
        return policy_to_proto(
            stored.value, tenant_id=tenant_id, created=stored.created_at, updated=stored.updated_at
        )

    async def CreateSlaPolicy(
        self, request: api.CreateSlaPolicyRequest, context: Any
    ) -> api.CreateSlaPolicyResponse:
        """Create a policy (defaults filled in)."""
        tenant_id = caller(WRITE).tenant_id
        spec, problems = policy_from_proto(request.sla_policy, policy_id=str(uuid.uuid4()))
        return await self._service.create_policy(
            tenant_id=tenant_id,
            spec=spec,
            problems=problems,
            answer=IdempotentReply(
                "CreateSlaPolicy",
                request.request_id,
                api.CreateSlaPolicyResponse,
                lambda s: api.CreateSlaPolicyResponse(sla_policy=self._policy(tenant_id, s)),
            ),
        )

    async def GetSlaPolicy(
        self, request: api.GetSlaPolicyRequest, context: Any
    ) -> api.GetSlaPolicyResponse:
        """Get one policy."""
        tenant_id = caller(READ).tenant_id
        stored = await self._service.get_policy(
            tenant_id=tenant_id, policy_id=request.sla_policy_id
        )
        return api.GetSlaPolicyResponse(sla_policy=self._policy(tenant_id, stored))

    async def ListSlaPolicies(
        self, request: api.ListSlaPoliciesRequest, context: Any
    ) -> api.ListSlaPoliciesResponse:
        """List policies in creation order."""
        tenant_id = caller(READ).tenant_id
        limit = page_size(request.page_size)
        filters = {"scope": int(request.scope_kind)}
        position = decode_page_token(request.page_token, filters=filters)
        after = (datetime.fromisoformat(position["c"]), position["i"]) if position else None
        scope = (
            ScopeKind(request.scope_kind)
            if int(request.scope_kind) in {int(k) for k in ScopeKind}
            else ScopeKind.UNSPECIFIED
        )
        rows, more = page_of(
            await self._service.list_policies(
                tenant_id=tenant_id, scope=scope, after=after, limit=limit + 1
            ),
            limit,
        )
        token = ""
        if more:
            last = rows[-1]
            token = encode_page_token(
                {"c": last.created_at.isoformat(), "i": last.value.id}, filters=filters
            )
        return api.ListSlaPoliciesResponse(
            sla_policies=[self._policy(tenant_id, r) for r in rows],
            next_page_token=token,
        )

    async def UpdateSlaPolicy(
        self, request: api.UpdateSlaPolicyRequest, context: Any
    ) -> api.UpdateSlaPolicyResponse:
        """Change the policy fields named in the mask."""
        tenant_id = caller(WRITE).tenant_id
        paths = _mask(request.update_mask.paths, POLICY_FIELDS)
        patch, problems = policy_from_proto(request.sla_policy, policy_id=request.sla_policy.id)
        fields = sorted({name for p in paths for name in POLICY_FIELDS[p]})
        return await self._service.update_policy(
            tenant_id=tenant_id,
            patch=patch,
            fields=fields,
            etag=request.sla_policy.etag,
            problems=_relevant(problems, "sla_policy", paths),
            answer=IdempotentReply(
                "UpdateSlaPolicy",
                request.request_id,
                api.UpdateSlaPolicyResponse,
                lambda s: api.UpdateSlaPolicyResponse(sla_policy=self._policy(tenant_id, s)),
            ),
        )

    async def DeleteSlaPolicy(
        self, request: api.DeleteSlaPolicyRequest, context: Any
    ) -> api.DeleteSlaPolicyResponse:
        """Delete a policy; running clocks keep their snapshot."""
        tenant_id = caller(WRITE).tenant_id
        return await self._service.delete_policy(
            tenant_id=tenant_id,
            policy_id=request.sla_policy_id,
            etag=request.etag,
            answer=IdempotentReply(
                "DeleteSlaPolicy",
                request.request_id,
                api.DeleteSlaPolicyResponse,
                lambda _: api.DeleteSlaPolicyResponse(),
            ),
        )

    # --- clocks --------------------------------------------------------------------------------

    async def GetTicketSla(
        self, request: api.GetTicketSlaRequest, context: Any
    ) -> api.GetTicketSlaResponse:
        """A ticket's clocks as of now."""
        tenant_id = caller(READ).tenant_id
        view, records, now = await self._service.ticket_sla(
            tenant_id=tenant_id, ticket_id=request.ticket_id
        )
        return api.GetTicketSlaResponse(ticket_sla=ticket_sla_to_proto(view, records, now))

    async def BatchGetTicketSla(
        self, request: api.BatchGetTicketSlaRequest, context: Any
    ) -> api.BatchGetTicketSlaResponse:
        """Many tickets' clocks as of now; those without an SLA are left out."""
        tenant_id = caller(READ).tenant_id
        found, now = await self._service.ticket_slas(
            tenant_id=tenant_id, ticket_ids=list(request.ticket_ids)
        )
        return api.BatchGetTicketSlaResponse(
            ticket_slas=[ticket_sla_to_proto(view, records, now) for view, records in found]
        )

    async def ListBreaches(
        self, request: api.ListBreachesRequest, context: Any
    ) -> api.ListBreachesResponse:
        """Breached targets, newest breach first."""
        tenant_id = caller(READ).tenant_id
        limit = _limit(request.page_size, default=50, maximum=1000)
        bad = [k for k in request.target_kinds if k not in KIND_FROM_PB]
        if bad:
            raise SlaInvalid.of([Violation("target_kinds", f"unknown target kinds {bad}")])
        filters = BreachFilter(
            since=from_timestamp(request.since_time) if request.HasField("since_time") else None,
            kinds=tuple(KIND_FROM_PB[k] for k in request.target_kinds),
            priorities=tuple(int(p) for p in request.priorities),
            client_id=request.client_id,
            queue=request.queue,
        )
        digest = {
            "since": filters.since.isoformat() if filters.since else "",
            "kinds": [k.value for k in filters.kinds],
            "priorities": list(filters.priorities),
            "client": filters.client_id,
            "queue": filters.queue,
        }
        position = decode_page_token(request.page_token, filters=digest)
        after = (
            (datetime.fromisoformat(position["b"]), position["t"], position["k"])
            if position
            else None
        )
        rows, more = page_of(
            await self._service.breaches(
                tenant_id=tenant_id, filters=filters, after=after, limit=limit + 1
            ),
            limit,
        )
        token = ""
        if more:
            last = rows[-1]
            token = encode_page_token(
                {
                    "b": last.breached_at.isoformat(),
                    "t": last.ticket.ticket_id,
                    "k": last.kind.value,
                },
                filters=digest,
            )
        return api.ListBreachesResponse(
            breaches=[breach_to_proto(r) for r in rows], next_page_token=token
        )

    async def ListTicketSlaAudit(
        self, request: api.ListTicketSlaAuditRequest, context: Any
    ) -> api.ListTicketSlaAuditResponse:
        """A ticket's clock audit log, oldest first."""
        tenant_id = caller(READ).tenant_id
        limit = _limit(request.page_size, default=100, maximum=1000)
        filters = {"ticket": request.ticket_id}
        position = decode_page_token(request.page_token, filters=filters)
        rows, more = page_of(
            await self._service.audit(
                tenant_id=tenant_id,
                ticket_id=request.ticket_id,
                after_seq=int(position["s"]) if position else 0,
                limit=limit + 1,
            ),
            limit,
        )
        token = ""
        if more:
            token = encode_page_token({"s": rows[-1][0]}, filters=filters)
        return api.ListTicketSlaAuditResponse(
            audit_entries=[audit_to_proto(e) for _, e in rows], next_page_token=token
        )
