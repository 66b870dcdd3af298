"""The whole mesh as processes, and what the e2e tests need to drive it.

A :class:`Mesh` wraps a running dev stack (``start_stack``, the launcher behind ``make
run``): gRPC channels to every service, an HTTP client for the webhook gateway, admin
tokens, and the CLI run in-process. A :class:`Tenant` is one MSP created through the
APIs with its own token; an :class:`Integration` posts real webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import httpx
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from triage.cli.main import main as cli_main
from triage.devstack.stack import Stack
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.runtime.auth import ADMIN_SCOPE, TokenAuthority
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api
from triage.tickets.v1 import tickets_service_pb2_grpc as tickets_grpc

T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]

USER_SCOPES = ("ingest:write", "rules:write", "tickets:write", "sla:write", "notify:write")


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = 20.0, what: str = "condition"
) -> T:
    """Poll ``check`` until it returns something truthy and return it; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f}s (last: {last!r})")
        await asyncio.sleep(0.05)


# --- a local OTLP/gRPC collector ---------------------------------------------------------


@dataclass(frozen=True)
class SpanRecord:
    """One exported span, flattened."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: Mapping[str, Any]
    links: tuple[tuple[str, str], ...]
    start_ns: int


def _value(v: Any) -> Any:
    which = v.WhichOneof("value")
    return getattr(v, which) if which else None


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: list[SpanRecord]) -> None:
        self._sink = sink

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self._sink.append(
                        SpanRecord(
                            service=service,
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            links=tuple(
                                (link.trace_id.hex(), link.span_id.hex()) for link in span.links
                            ),
                            start_ns=span.start_time_unix_nano,
                        )
                    )
        return trace_service_pb2.ExportTraceServiceResponse()


class Collector:
    """A tiny OTLP/gRPC trace collector on 127.0.0.1 that keeps every span in memory."""

    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        """``host:port``, the value for ``TRIAGE_OTLP_ENDPOINT``."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _TraceService(self.spans), self._server
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.stop(0)

    def trace(self, trace_id: str) -> list[SpanRecord]:
        """Every span of one trace received so far, oldest first."""
        return sorted((s for s in self.spans if s.trace_id == trace_id), key=lambda s: s.start_ns)


# --- the mesh ----------------------------------------------------------------------------


@dataclass
class Mesh:
    """A running stack and clients for it."""

    stack: Stack
    http: httpx.AsyncClient
    channels: dict[str, grpc.aio.Channel]
    authority: TokenAuthority
    _cli_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, stack: Stack) -> AsyncIterator[Mesh]:
        """Clients for ``stack``; closed on exit."""
        endpoints = stack.endpoints
        async with httpx.AsyncClient(base_url=endpoints.http, timeout=15) as http:
            channels = {n: grpc.aio.insecure_channel(a) for n, a in endpoints.grpc.items()}
            try:
                yield cls(stack, http, channels, TokenAuthority(stack.keys.auth_signing_key))
            finally:
                for channel in channels.values():
                    await channel.close(None)

    def admin(self) -> Metadata:
        """Call metadata of an administrator (tenant registry)."""
        token = self.authority.issue(subject="e2e-admin", tenant_id=None, scopes=[ADMIN_SCOPE])
        return (("authorization", f"Bearer {token}"),)

    @property
    def tenants(self) -> tenant_grpc.TenantServiceAsyncStub:
        """The tenant registry (ingest)."""
        return tenant_grpc.TenantServiceStub(self.channels["ingest"])

    async def new_tenant(self, name: str) -> Tenant:
        """Register a tenant through the API and issue a user token for it."""
        reply = await self.tenants.CreateTenant(
            tenant_api.CreateTenantRequest(
                tenant=ingest_pb.Tenant(
                    display_name=f"{name} {uuid.uuid4().hex[:6]}", time_zone="UTC"
                )
            ),
            metadata=self.admin(),
        )
        tenant_id = reply.tenant.id
        token = self.authority.issue(
            subject=f"e2e-user-{tenant_id[:8]}", tenant_id=tenant_id, scopes=USER_SCOPES
        )
        return Tenant(self, tenant_id, token)

    async def serving(self, name: str) -> bool:
        """Whether service ``name`` answers its health check with SERVING."""
        stub = health_pb2_grpc.HealthStub(self.channels[name])
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def cli(self, *argv: str, token: str) -> Any:
        """Run ``triage <argv> --json`` in-process against this stack; its parsed JSON output."""
        endpoints = self.stack.endpoints
        args = [
            *argv,
            "--json",
            "--token",
            token,
            "--gateway-url",
            endpoints.http,
            *(x for n, a in endpoints.grpc.items() for x in (f"--{n}-addr", a)),
        ]

        def run() -> tuple[int, str]:
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = cli_main(args)
            return code, out.getvalue()

        async with self._cli_lock:  # stdout is process-wide
            code, out = await asyncio.to_thread(run)
        assert code == 0, f"triage {' '.join(argv)} exited {code}: {out}"
        return json.loads(out)


@dataclass
class Tenant:
    """One MSP tenant and its user token."""

    mesh: Mesh
    tenant_id: str
    token: str

    @property
    def md(self) -> Metadata:
        """Call metadata with this tenant's token."""
        return (("authorization", f"Bearer {self.token}"),)

    @property
    def ingest(self) -> ingest_grpc.IngestServiceAsyncStub:
        """IngestService."""
        return ingest_grpc.IngestServiceStub(self.mesh.channels["ingest"])

    @property
    def rules(self) -> rules_grpc.RulesServiceAsyncStub:
        """RulesService."""
        return rules_grpc.RulesServiceStub(self.mesh.channels["rules"])

    @property
    def tickets(self) -> tickets_grpc.TicketsServiceAsyncStub:
        """TicketsService."""
        return tickets_grpc.TicketsServiceStub(self.mesh.channels["tickets"])

    async def integration(self, provider: str, **settings: Any) -> Integration:
        """Create a webhook integration for ``provider``."""
        reply = await self.ingest.CreateIntegration(
            ingest_api.CreateIntegrationRequest(
                integration=ingest_pb.Integration(
                    provider=ingest_pb.Provider.Value(f"PROVIDER_{provider.upper()}"),
                    display_name=f"e2e {provider} {uuid.uuid4().hex[:6]}",
                    settings=ingest_pb.IntegrationSettings(**settings),
                )
            ),
            metadata=self.md,
        )
        return Integration(self, provider, reply.integration.id, reply.secret)

    async def catch_all_rule(self) -> rules_pb.Rule:
        """A rule that opens (or adds to) a ticket for every alert and closes it on reset."""
        reply = await self.rules.CreateRule(
            rules_api.CreateRuleRequest(
                request_id=str(uuid.uuid4()),
                rule=rules_pb.Rule(
                    display_name="Ticket every alert",
                    actions=rules_pb.Actions(
                        ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET,
                        title_template="{{ device_name or device_id }}: {{ title }}",
                    ),
                ),
            ),
            metadata=self.md,
        )
        return reply.rule

    async def ticket_per_problem(self) -> None:
        """Flap damping and storm protection off (both on by default): every re-fire after
        a reset and every new problem gets its own ticket, as a test of ordering expects."""
        await self.tickets.UpdateTenantSettings(
            tickets_api.UpdateTenantSettingsRequest(
                request_id=str(uuid.uuid4()),
                settings=tickets_pb.TenantSettings(
                    flap_damping=tickets_pb.FlapDamping(enabled=False),
                    storm_protection=tickets_pb.StormProtection(enabled=False),
                ),
                update_mask=field_mask_pb2.FieldMask(
                    paths=["flap_damping.enabled", "storm_protection.enabled"]
                ),
            ),
            metadata=self.md,
        )

    async def alert(self, alert_id: str) -> ingest_pb.AlertEvent:
        """One stored alert event."""
        reply = await self.ingest.GetAlertEvent(
            ingest_api.GetAlertEventRequest(alert_id=alert_id), metadata=self.md
        )
        return reply.alert_event

    async def alerts(self, integration_id: str) -> list[ingest_pb.AlertEvent]:
        """Every stored alert event of one integration."""
        out: list[ingest_pb.AlertEvent] = []
        request = ingest_api.ListAlertEventsRequest(integration_id=integration_id, page_size=500)
        while True:
            reply = await self.ingest.ListAlertEvents(request, metadata=self.md)
            out += reply.alert_events
            if not reply.next_page_token:
                return out
            request.page_token = reply.next_page_token

    async def routed(self, alert_id: str) -> bool:
        """Whether the rules service has decided (routed or suppressed) this alert."""
        try:
            await self.rules.EvaluateAlert(
                rules_api.EvaluateAlertRequest(alert_id=alert_id), metadata=self.md
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def list_tickets(self, **filters: Any) -> list[tickets_pb.Ticket]:
        """Every ticket of this tenant matching ``filters`` (ListTicketsRequest fields)."""
        out: list[tickets_pb.Ticket] = []
        request = tickets_api.ListTicketsRequest(page_size=500, **filters)
        while True:
            reply = await self.tickets.ListTickets(request, metadata=self.md)
            out += reply.tickets
            if not reply.next_page_token:
                return out
            request.page_token = reply.next_page_token

    async def wait_ticket(
        self,
        series_key: str,
        predicate: Callable[[tickets_pb.Ticket], bool] = lambda t: True,
        *,
        timeout: float = 20.0,
    ) -> tickets_pb.Ticket:
        """The one ticket linked to ``series_key`` once it satisfies ``predicate``."""

        async def check() -> tickets_pb.Ticket | None:
            # Filtered here: ListTickets(series_key=...) fails with INTERNAL (see the report).
            found = [t for t in await self.list_tickets() if series_key in t.linked_series_keys]
            assert len(found) <= 1, f"several tickets for series {series_key}: {found}"
            return found[0] if found and predicate(found[0]) else None

        return await eventually(check, timeout=timeout, what=f"ticket for {series_key}")

    async def comments(self, ticket_id: str) -> list[tickets_pb.Comment]:
        """Every comment of a ticket."""
        reply = await self.tickets.ListComments(
            tickets_api.ListCommentsRequest(ticket_id=ticket_id, page_size=100), metadata=self.md
        )
        return list(reply.comments)

    async def history(self, ticket_id: str) -> list[tickets_pb.HistoryEntry]:
        """The whole history of a ticket."""
        out: list[tickets_pb.HistoryEntry] = []
        request = tickets_api.ListTicketHistoryRequest(ticket_id=ticket_id, page_size=1000)
        while True:
            reply = await self.tickets.ListTicketHistory(request, metadata=self.md)
            out += reply.history_entries
            if not reply.next_page_token:
                return out
            request.page_token = reply.next_page_token

    async def cli(self, *argv: str) -> Any:
        """The ``triage`` CLI with this tenant's token; parsed JSON output."""
        return await self.mesh.cli(*argv, token=self.token)


@dataclass
class Accepted:
    """What the gateway answered for one webhook."""

    status: int
    alert_ids: list[str]
    duplicates: int


@dataclass
class Integration:
    """A webhook integration; posts bodies the way its provider authenticates."""

    tenant: Tenant
    provider: str
    id: str
    secret: str
    auth: str = "header"
    """``header`` (X-Triage-Secret), ``bearer``, ``query`` (?token=) or ``hmac`` (Level)."""

    async def post(
        self, body: bytes, *, content_type: str = "application/json", traceparent: str = ""
    ) -> Accepted:
        """POST one webhook; returns the gateway's answer (asserting it is 202)."""
        headers = {"content-type": content_type}
        params: dict[str, str] = {}
        if self.auth == "hmac":
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["x-level-signature"] = f"sha256={digest}"
        elif self.auth == "bearer":
            headers["authorization"] = f"Bearer {self.secret}"
        elif self.auth == "query":
            params["token"] = self.secret
        else:
            headers["x-triage-secret"] = self.secret
        if traceparent:
            headers["traceparent"] = traceparent
        reply = await self.tenant.mesh.http.post(
            f"/v1/webhooks/{self.provider}/{self.id}", content=body, headers=headers, params=params
        )
        assert reply.status_code == 202, f"{self.provider}: {reply.status_code} {reply.text}"
        data = reply.json()
        return Accepted(reply.status_code, list(data["alert_ids"]), int(data["duplicates"]))
