"""gRPC servicers of the ingest service: proto <-> use cases, no SQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from services.ingest import convert
from services.ingest.domain.alert_events import AlertFilters, StoredAlert
from services.ingest.domain.integrations import Integration, IssuedSecret
from services.ingest.domain.tenants import Tenant, TenantChanges
from services.ingest.domain.tokens import MintedToken
from services.ingest.service import IngestService
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.ingest.v1 import tenant_service_pb2_grpc as tapi_grpc
from triage.runtime import (
    ADMIN_SCOPE,
    FieldViolation,
    IdempotentReply,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TokenAuthority,
    caller,
    current_principal,
    decode_page_token,
    encode_page_token,
    from_timestamp,
    page_of,
    page_size,
    require_uuid,
)

MAX_TOKEN_TTL = timedelta(days=365)
KNOWN_SCOPE_DOMAINS = ("ingest", "rules", "tickets", "sla", "notify")


def _tenant_for(scope: str) -> str:
    return caller(scope).tenant_id


class IngestApi(api_grpc.IngestServiceServicer):
    """IngestService: integrations and stored alerts."""

    def __init__(self, service: IngestService, *, public_url: str) -> None:
        self._service = service
        self._public_url = public_url.rstrip("/")

    def _created(self, issued: IssuedSecret) -> api.CreateIntegrationResponse:
        integration = convert.integration_to_proto(issued.integration)
        return api.CreateIntegrationResponse(
            integration=integration,
            secret=issued.secret,
            webhook_url=self._public_url + integration.webhook_path,
        )

    async def CreateIntegration(
        self, request: api.CreateIntegrationRequest, context: Any
    ) -> api.CreateIntegrationResponse:
        """Create an integration; the secret is in this answer only."""
        tenant_id = _tenant_for("ingest:write")
        provider = convert.provider_from_proto(request.integration.provider)
        box = self._service.box
        stored = await self._service.create_integration(
            tenant_id=tenant_id,
            provider=provider,
            display_name=request.integration.display_name,
            settings=convert.settings_from_proto(request.integration.settings),
            reply=convert.stored_reply("CreateIntegration", request.request_id, self._created, box),
        )
        return convert.from_stored(stored, api.CreateIntegrationResponse, box)

    async def GetIntegration(
        self, request: api.GetIntegrationRequest, context: Any
    ) -> api.GetIntegrationResponse:
        """One integration."""
        tenant_id = _tenant_for("ingest:read")
        integration = await self._service.get_integration(
            tenant_id=tenant_id, integration_id=request.integration_id
        )
        [shown] = await self._shown(tenant_id, [integration])
        return api.GetIntegrationResponse(integration=shown)

    async def _shown(self, tenant_id: str, rows: list[Integration]) -> list[pb.Integration]:
        """Integrations as protos, with the poll status of those that are polled."""
        status = await self._service.poll_status(
            tenant_id=tenant_id, integration_ids=[str(r.id) for r in rows]
        )
        shown = []
        for row in rows:
            integration = convert.integration_to_proto(row)
            if (polled := status.get(str(row.id))) is not None:
                integration.poll_status.CopyFrom(convert.poll_status_to_proto(polled))
            shown.append(integration)
        return shown

    async def ListIntegrations(
        self, request: api.ListIntegrationsRequest, context: Any
    ) -> api.ListIntegrationsResponse:
        """A page of integrations, oldest first."""
        tenant_id = _tenant_for("ingest:read")
        filters = {"provider": request.provider, "disabled": request.show_disabled}
        position = decode_page_token(request.page_token, filters=filters)
        limit = page_size(request.page_size)
        after = (datetime.fromisoformat(position["t"]), str(position["id"])) if position else None
        rows = await self._service.list_integrations(
            tenant_id=tenant_id,
            provider=convert.provider_from_proto(request.provider) or None,
            show_disabled=request.show_disabled,
            after=after,
            limit=limit + 1,
        )
        page, more = page_of(rows, limit)
        token = (
            encode_page_token(
                {"t": page[-1].created_at.isoformat(), "id": str(page[-1].id)},
                filters=filters,
            )
            if more
            else ""
        )
        return api.ListIntegrationsResponse(
            integrations=await self._shown(tenant_id, list(page)), next_page_token=token
        )

    async def UpdateIntegration(
        self, request: api.UpdateIntegrationRequest, context: Any
    ) -> api.UpdateIntegrationResponse:
        """Change name, disabled flag or settings (paths in ``update_mask``)."""
        tenant_id = _tenant_for("ingest:write")
        paths = list(request.update_mask.paths)
        allowed = {"display_name", "disabled", "settings"}
        unknown = [p for p in paths if p.split(".", 1)[0] not in allowed]
        if unknown or not paths:
            raise InvalidArgument(
                "bad update_mask",
                violations=[
                    FieldViolation("update_mask", f"unknown or immutable path {p!r}")
                    for p in unknown
                ]
                or [
                    FieldViolation(
                        "update_mask", "name at least one of " + ", ".join(sorted(allowed))
                    )
                ],
            )
        top = {p.split(".", 1)[0] for p in paths}
        # Settings are replaced as a whole; an empty api.client_secret keeps the stored one.
        settings = (
            convert.settings_from_proto(request.integration.settings) if "settings" in top else None
        )
        row = await self._service.update_integration(
            tenant_id=tenant_id,
            integration_id=request.integration.id,
            etag=request.integration.etag,
            display_name=request.integration.display_name if "display_name" in top else None,
            disabled=request.integration.disabled if "disabled" in top else None,
            settings=settings,
        )
        return api.UpdateIntegrationResponse(integration=convert.integration_to_proto(row))

    async def DeleteIntegration(
        self, request: api.DeleteIntegrationRequest, context: Any
    ) -> api.DeleteIntegrationResponse:
        """Delete an integration (its stored alerts stay)."""
        tenant_id = _tenant_for("ingest:write")
        await self._service.delete_integration(
            tenant_id=tenant_id, integration_id=request.integration_id, etag=request.etag
        )
        return api.DeleteIntegrationResponse()

    async def RotateIntegrationSecret(
        self, request: api.RotateIntegrationSecretRequest, context: Any
    ) -> api.RotateIntegrationSecretResponse:
        """Issue a new secret; the old one keeps working for the overlap."""
        tenant_id = _tenant_for("ingest:write")

        def respond(issued: IssuedSecret) -> api.RotateIntegrationSecretResponse:
            integration = convert.integration_to_proto(issued.integration)
            return api.RotateIntegrationSecretResponse(
                integration=integration,
                secret=issued.secret,
                previous_secret_expire_time=integration.previous_secret_expire_time,
            )

        box = self._service.box
        stored = await self._service.rotate_secret(
            tenant_id=tenant_id,
            integration_id=request.integration_id,
            overlap=request.overlap.ToTimedelta() if request.HasField("overlap") else None,
            reply=convert.stored_reply("RotateIntegrationSecret", request.request_id, respond, box),
        )
        return convert.from_stored(stored, api.RotateIntegrationSecretResponse, box)

    async def IngestAlerts(
        self, request: api.IngestAlertsRequest, context: Any
    ) -> api.IngestAlertsResponse:
        """Store already-normalized alerts from internal callers."""
        tenant_id = _tenant_for("ingest:write")
        return await self._service.ingest_alerts(
            tenant_id=tenant_id,
            drafts=[convert.draft_from_proto(alert) for alert in request.alerts],
            reply=IdempotentReply(
                "IngestAlerts",
                request.request_id,
                api.IngestAlertsResponse,
                convert.write_results_to_proto,
            ),
        )

    async def ListAlertEvents(
        self, request: api.ListAlertEventsRequest, context: Any
    ) -> api.ListAlertEventsResponse:
        """A page of stored alert events, newest first."""
        tenant_id = _tenant_for("ingest:read")
        filters: dict[str, Any] = {
            "integration_id": request.integration_id or None,
            "providers": [convert.provider_from_proto(p) for p in request.providers] or None,
            "kinds": [convert.kind_from_proto(k) for k in request.kinds] or None,
            "series_key": request.series_key or None,
            "device_id": request.device_id or None,
            "client_id": request.client_id or None,
            "min_severity": int(request.min_severity) or None,
            "start_time": from_timestamp(request.start_time)
            if request.HasField("start_time")
            else None,
            "end_time": from_timestamp(request.end_time) if request.HasField("end_time") else None,
            "suppressed": request.suppressed if request.HasField("suppressed") else None,
            "reset_state": convert.RESET_STATE_NAMES.get(request.outbound_reset_state),
        }
        if filters["integration_id"]:
            require_uuid(filters["integration_id"], "integration_id")
        position = decode_page_token(request.page_token, filters=filters)
        limit = page_size(request.page_size)
        before = (datetime.fromisoformat(position["t"]), str(position["id"])) if position else None
        rows = await self._service.list_alerts(
            tenant_id=tenant_id, filters=AlertFilters(**filters), before=before, limit=limit + 1
        )
        page, more = page_of(rows, limit)
        token = (
            encode_page_token(
                {"t": page[-1].received_at.isoformat(), "id": str(page[-1].id)},
                filters=filters,
            )
            if more
            else ""
        )
        return api.ListAlertEventsResponse(
            alert_events=[_row_without_body(r) for r in page], next_page_token=token
        )

    async def GetAlertEvent(
        self, request: api.GetAlertEventRequest, context: Any
    ) -> api.GetAlertEventResponse:
        """One alert event; the FULL view includes the raw body."""
        tenant_id = _tenant_for("ingest:read")
        row = await self._service.get_alert(tenant_id=tenant_id, alert_id=request.alert_id)
        return api.GetAlertEventResponse(
            alert_event=convert.row_to_proto(row, full=request.view == pb.ALERT_EVENT_VIEW_FULL)
        )


def _row_without_body(row: StoredAlert) -> pb.AlertEvent:
    return convert.row_to_proto(row, full=False)


class TenantApi(tapi_grpc.TenantServiceServicer):
    """TenantService: the tenant registry and token issuing (administrators)."""

    def __init__(self, service: IngestService, authority: TokenAuthority) -> None:
        self._service = service
        self._authority = authority

    async def CreateTenant(
        self, request: tapi.CreateTenantRequest, context: Any
    ) -> tapi.CreateTenantResponse:
        """Register a tenant (admin)."""
        current_principal().require(ADMIN_SCOPE)
        stored = await self._service.create_tenant(
            display_name=request.tenant.display_name,
            time_zone=request.tenant.time_zone,
            reply=convert.stored_reply("CreateTenant", request.request_id, _tenant_created),
        )
        return convert.from_stored(stored, tapi.CreateTenantResponse)

    async def GetTenant(
        self, request: tapi.GetTenantRequest, context: Any
    ) -> tapi.GetTenantResponse:
        """One tenant: an admin sees any; a tenant sees itself only."""
        principal = current_principal()
        require_uuid(request.tenant_id, "tenant_id")
        if ADMIN_SCOPE in principal.scopes:
            row = await self._service.get_tenant_any(request.tenant_id)
        elif principal.tenant_id == request.tenant_id:
            row = await self._service.get_tenant(request.tenant_id)
        else:
            raise NotFound(f"tenant {request.tenant_id} not found")
        return tapi.GetTenantResponse(tenant=convert.tenant_to_proto(row))

    async def ListTenants(
        self, request: tapi.ListTenantsRequest, context: Any
    ) -> tapi.ListTenantsResponse:
        """A page of tenants (admin)."""
        current_principal().require(ADMIN_SCOPE)
        position = decode_page_token(request.page_token, filters={})
        limit = page_size(request.page_size)
        after = (datetime.fromisoformat(position["t"]), str(position["id"])) if position else None
        rows = await self._service.list_tenants(after=after, limit=limit + 1)
        page, more = page_of(rows, limit)
        token = (
            encode_page_token(
                {"t": page[-1].created_at.isoformat(), "id": str(page[-1].id)}, filters={}
            )
            if more
            else ""
        )
        return tapi.ListTenantsResponse(
            tenants=[convert.tenant_to_proto(r) for r in page], next_page_token=token
        )

    async def UpdateTenant(
        self, request: tapi.UpdateTenantRequest, context: Any
    ) -> tapi.UpdateTenantResponse:
        """Rename a tenant, change its zone, suspend or resume it (admin)."""
        current_principal().require(ADMIN_SCOPE)
        require_uuid(request.tenant.id, "tenant.id")
        changes: dict[str, str] = {}
        for path in request.update_mask.paths:
            if path == "display_name":
                changes["display_name"] = request.tenant.display_name
            elif path == "time_zone":
                changes["time_zone"] = request.tenant.time_zone
            elif path == "state":
                changes["state"] = _state_of(request.tenant.state)
            else:
                raise InvalidArgument.field("update_mask", f"cannot update {path!r}")
        if not changes:
            raise InvalidArgument.field("update_mask", "name display_name, time_zone and/or state")
        row = await self._service.update_tenant(
            tenant_id=request.tenant.id, changes=TenantChanges(**changes), etag=request.tenant.etag
        )
        return tapi.UpdateTenantResponse(tenant=convert.tenant_to_proto(row))

    async def IssueToken(
        self, request: tapi.IssueTokenRequest, context: Any
    ) -> tapi.IssueTokenResponse:
        """Sign a token for a tenant with the given scopes (admin)."""
        current_principal().require(ADMIN_SCOPE)
        violations: list[FieldViolation] = []
        if request.tenant_id:
            require_uuid(request.tenant_id, "tenant_id")
            await self._service.get_tenant_any(request.tenant_id)
        scopes = list(request.scopes) or ["tickets:write", "rules:write", "ingest:write"]
        for i, scope in enumerate(scopes):
            domain, _, action = scope.partition(":")
            if scope == ADMIN_SCOPE:
                continue
            if domain not in KNOWN_SCOPE_DOMAINS or action not in ("read", "write", "*"):
                violations.append(
                    FieldViolation(f"scopes[{i}]", "use <domain>:read|write or admin")
                )
        if "service" in scopes:
            raise PermissionDenied("service identities are not issued through the API")
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else timedelta(days=30)
        if ttl <= timedelta(0) or ttl > MAX_TOKEN_TTL:
            violations.append(FieldViolation("ttl", "must be between 1 s and 365 days"))
        if violations:
            raise InvalidArgument("invalid token request", violations=violations)
        tenant_id = request.tenant_id or None
        subject = request.subject or f"user:{uuid.uuid4()}"

        def sign(token_id: str) -> tuple[str, list[str]]:
            token = self._authority.issue(
                subject=subject,
                tenant_id=tenant_id,
                scopes=scopes,
                ttl_seconds=int(ttl.total_seconds()),
                token_id=token_id,
            )
            return token, sorted(self._authority.verify(token).scopes)

        box = self._service.box  # the answer carries the token: sealed in the requests table
        stored = await self._service.issue_token(
            tenant_id=tenant_id,
            subject=subject,
            ttl=ttl,
            sign=sign,
            reply=convert.stored_reply("IssueToken", request.request_id, _token_issued, box),
        )
        return convert.from_stored(stored, tapi.IssueTokenResponse, box)

    async def RevokeToken(
        self, request: tapi.RevokeTokenRequest, context: Any
    ) -> tapi.RevokeTokenResponse:
        """Revoke an issued token by its ``jti`` on every service (admin)."""
        principal = current_principal()
        principal.require(ADMIN_SCOPE)
        require_uuid(request.token_id, "token_id")
        row = await self._service.revoke_token(token_id=request.token_id, by=principal.subject)
        return tapi.RevokeTokenResponse(token=convert.issued_token_to_proto(row))

    async def ListTokens(
        self, request: tapi.ListTokensRequest, context: Any
    ) -> tapi.ListTokensResponse:
        """A page of issued tokens' metadata, optionally of one tenant (admin)."""
        current_principal().require(ADMIN_SCOPE)
        if request.tenant_id:
            require_uuid(request.tenant_id, "tenant_id")
        filters = {"tenant": request.tenant_id}
        position = decode_page_token(request.page_token, filters=filters)
        limit = page_size(request.page_size)
        after = (datetime.fromisoformat(position["t"]), str(position["id"])) if position else None
        rows = await self._service.list_tokens(
            tenant_id=request.tenant_id or None, after=after, limit=limit + 1
        )
        page, more = page_of(rows, limit)
        token = (
            encode_page_token(
                {"t": page[-1].issued_at.isoformat(), "id": page[-1].id}, filters=filters
            )
            if more
            else ""
        )
        return tapi.ListTokensResponse(
            tokens=[convert.issued_token_to_proto(r) for r in page], next_page_token=token
        )


def _state_of(state: int) -> str:
    """The stored state of a proto TenantState; INVALID_ARGUMENT for any other."""
    if state == pb.TENANT_STATE_ACTIVE:
        return "active"
    if state == pb.TENANT_STATE_SUSPENDED:
        return "suspended"
    raise InvalidArgument.field("tenant.state", "must be TENANT_STATE_ACTIVE or _SUSPENDED")


def _token_issued(minted: MintedToken) -> tapi.IssueTokenResponse:
    issued = minted.issued
    response = tapi.IssueTokenResponse(
        token=minted.token, token_id=issued.id, scopes=list(issued.scopes)
    )
    response.expire_time.FromDatetime(issued.expires_at)
    return response


def _tenant_created(tenant: Tenant) -> tapi.CreateTenantResponse:
    return tapi.CreateTenantResponse(tenant=convert.tenant_to_proto(tenant))
