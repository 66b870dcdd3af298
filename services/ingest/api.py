"""gRPC servicers of the ingest service: proto <-> use cases, no SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.ingest import mapping
from services.ingest.records import AlertRecord, RawBody, WriteResult
from services.ingest.service import IngestService
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import ingest_service_pb2_grpc as api_grpc
from triage.ingest.v1 import resources_pb2 as pb
from triage.ingest.v1 import tenant_service_pb2 as tapi
from triage.ingest.v1 import tenant_service_pb2_grpc as tapi_grpc
from triage.runtime import (
    ADMIN_SCOPE,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    TokenAuthority,
    current_principal,
    decode_page_token,
    encode_page_token,
    from_timestamp,
    new_id,
    page_size,
)

MAX_TOKEN_TTL = timedelta(days=365)
KNOWN_SCOPE_DOMAINS = ("ingest", "rules", "tickets", "sla", "notify")


def _tenant_for(scope: str) -> str:
    principal = current_principal()
    principal.require(scope)
    return principal.require_tenant()


class IngestApi(api_grpc.IngestServiceServicer):
    """IngestService: integrations and stored alerts."""

    def __init__(self, service: IngestService, *, public_url: str) -> None:
        self._service = service
        self._public_url = public_url.rstrip("/")

    def _created(self, row: Any, secret: str) -> api.CreateIntegrationResponse:
        integration = mapping.integration_to_proto(row)
        return api.CreateIntegrationResponse(
            integration=integration,
            secret=secret,
            webhook_url=self._public_url + integration.webhook_path,
        )

    async def CreateIntegration(
        self, request: api.CreateIntegrationRequest, context: Any
    ) -> api.CreateIntegrationResponse:
        """Create an integration; the secret is in this answer only."""
        tenant_id = _tenant_for("ingest:write")
        provider = mapping.provider_from_proto(request.integration.provider)
        return await self._service.create_integration(
            tenant_id=tenant_id,
            provider=provider,
            display_name=request.integration.display_name,
            settings=request.integration.settings,
            request_id=request.request_id,
            respond=self._created,
            response_type=api.CreateIntegrationResponse,
        )

    async def GetIntegration(
        self, request: api.GetIntegrationRequest, context: Any
    ) -> api.GetIntegrationResponse:
        """One integration."""
        tenant_id = _tenant_for("ingest:read")
        row = await self._service.get_integration(
            tenant_id=tenant_id, integration_id=request.integration_id
        )
        return api.GetIntegrationResponse(integration=mapping.integration_to_proto(row))

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
            provider=mapping.provider_from_proto(request.provider) or None,
            show_disabled=request.show_disabled,
            after=after,
            limit=limit + 1,
        )
        page, more = rows[:limit], len(rows) > limit
        token = (
            encode_page_token(
                {"t": page[-1]["created_at"].isoformat(), "id": str(page[-1]["id"])},
                filters=filters,
            )
            if more
            else ""
        )
        return api.ListIntegrationsResponse(
            integrations=[mapping.integration_to_proto(r) for r in page], next_page_token=token
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
        settings = request.integration.settings if "settings" in top else None
        row = await self._service.update_integration(
            tenant_id=tenant_id,
            integration_id=request.integration.id,
            etag=request.integration.etag,
            display_name=request.integration.display_name if "display_name" in top else None,
            disabled=request.integration.disabled if "disabled" in top else None,
            settings=settings,
        )
        return api.UpdateIntegrationResponse(integration=mapping.integration_to_proto(row))

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

        def respond(row: Any, secret: str) -> api.RotateIntegrationSecretResponse:
            integration = mapping.integration_to_proto(row)
            return api.RotateIntegrationSecretResponse(
                integration=integration,
                secret=secret,
                previous_secret_expire_time=integration.previous_secret_expire_time,
            )

        return await self._service.rotate_secret(
            tenant_id=tenant_id,
            integration_id=request.integration_id,
            overlap=request.overlap.ToTimedelta() if request.HasField("overlap") else None,
            request_id=request.request_id,
            respond=respond,
            response_type=api.RotateIntegrationSecretResponse,
        )

    async def IngestAlerts(
        self, request: api.IngestAlertsRequest, context: Any
    ) -> api.IngestAlertsResponse:
        """Store already-normalized alerts from internal callers."""
        tenant_id = _tenant_for("ingest:write")
        if not request.alerts:
            raise InvalidArgument.field("alerts", "must contain at least one alert")
        if len(request.alerts) > 1000:
            raise InvalidArgument.field("alerts", "at most 1000 alerts per call")
        violations: list[FieldViolation] = []
        records: list[AlertRecord] = []
        now = datetime.now(UTC)
        integrations: dict[str, Any] = {}
        for i, alert in enumerate(request.alerts):
            where = f"alerts[{i}]"
            if alert.kind == pb.ALERT_KIND_UNSPECIFIED:
                violations.append(FieldViolation(f"{where}.kind", "must be set"))
            if not alert.series_key:
                violations.append(FieldViolation(f"{where}.series_key", "must not be empty"))
            if not alert.condition:
                violations.append(FieldViolation(f"{where}.condition", "must not be empty"))
            if alert.integration_id not in integrations:
                try:
                    integrations[alert.integration_id] = await self._service.get_integration(
                        tenant_id=tenant_id, integration_id=alert.integration_id
                    )
                except (NotFound, InvalidArgument):
                    violations.append(
                        FieldViolation(f"{where}.integration_id", "no such integration")
                    )
                    integrations[alert.integration_id] = None
        if violations:
            raise InvalidArgument("invalid alerts", violations=violations)
        for alert in request.alerts:
            normalized = mapping.proto_to_alert(alert)
            key = alert.delivery_key or alert.source_event_id or str(uuid.uuid4())
            records.append(
                AlertRecord(
                    alert_id=new_id(),
                    tenant_id=tenant_id,
                    integration_id=alert.integration_id,
                    provider=integrations[alert.integration_id]["provider"],
                    delivery_key=key,
                    received_at=now,
                    content_type="application/x-protobuf",
                    body=RawBody(id=new_id(), raw=alert.SerializeToString()),
                    alert=normalized,
                )
            )

        def respond(results: list[WriteResult]) -> api.IngestAlertsResponse:
            return api.IngestAlertsResponse(
                results=[
                    api.IngestAlertResult(
                        alert_id=r.alert_id, delivery_key=r.delivery_key, duplicate=r.duplicate
                    )
                    for r in results
                ]
            )

        return await self._service.ingest_normalized(
            tenant_id=tenant_id,
            request_id=request.request_id,
            records=records,
            respond=respond,
            response_type=api.IngestAlertsResponse,
        )

    async def ListAlertEvents(
        self, request: api.ListAlertEventsRequest, context: Any
    ) -> api.ListAlertEventsResponse:
        """A page of stored alert events, newest first."""
        tenant_id = _tenant_for("ingest:read")
        filters: dict[str, Any] = {
            "integration_id": request.integration_id or None,
            "providers": [mapping.provider_from_proto(p) for p in request.providers] or None,
            "kinds": [mapping.kind_from_proto(k) for k in request.kinds] or None,
            "series_key": request.series_key or None,
            "device_id": request.device_id or None,
            "client_id": request.client_id or None,
            "min_severity": int(request.min_severity) or None,
            "start_time": from_timestamp(request.start_time)
            if request.HasField("start_time")
            else None,
            "end_time": from_timestamp(request.end_time) if request.HasField("end_time") else None,
            "suppressed": request.suppressed if request.HasField("suppressed") else None,
            "reset_state": mapping.RESET_STATE_NAMES.get(request.outbound_reset_state),
        }
        if filters["integration_id"]:
            try:
                uuid.UUID(filters["integration_id"])
            except ValueError as exc:
                raise InvalidArgument.field("integration_id", "must be a UUID") from exc
        position = decode_page_token(request.page_token, filters=filters)
        limit = page_size(request.page_size)
        before = (datetime.fromisoformat(position["t"]), str(position["id"])) if position else None
        rows = await self._service.list_alerts(
            tenant_id=tenant_id, filters=filters, before=before, limit=limit + 1
        )
        page, more = rows[:limit], len(rows) > limit
        token = (
            encode_page_token(
                {"t": page[-1]["received_at"].isoformat(), "id": str(page[-1]["id"])},
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
            alert_event=mapping.row_to_proto(row, full=request.view == pb.ALERT_EVENT_VIEW_FULL)
        )


def _row_without_body(row: Any) -> pb.AlertEvent:
    return mapping.row_to_proto(row, full=False)


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
        return await self._service.create_tenant(
            display_name=request.tenant.display_name,
            time_zone=request.tenant.time_zone,
            request_id=request.request_id,
            respond=lambda row: tapi.CreateTenantResponse(tenant=mapping.tenant_to_proto(row)),
            response_type=tapi.CreateTenantResponse,
        )

    async def GetTenant(
        self, request: tapi.GetTenantRequest, context: Any
    ) -> tapi.GetTenantResponse:
        """One tenant: an admin sees any; a tenant sees itself only."""
        principal = current_principal()
        _require_uuid(request.tenant_id, "tenant_id")
        if ADMIN_SCOPE in principal.scopes:
            row = await self._service.get_tenant_any(request.tenant_id)
        elif principal.tenant_id == request.tenant_id:
            row = await self._service.get_tenant(request.tenant_id)
        else:
            raise NotFound(f"tenant {request.tenant_id} not found")
        return tapi.GetTenantResponse(tenant=mapping.tenant_to_proto(row))

    async def ListTenants(
        self, request: tapi.ListTenantsRequest, context: Any
    ) -> tapi.ListTenantsResponse:
        """A page of tenants (admin)."""
        current_principal().require(ADMIN_SCOPE)
        position = decode_page_token(request.page_token, filters={})
        limit = page_size(request.page_size)
        after = (datetime.fromisoformat(position["t"]), str(position["id"])) if position else None
        rows = await self._service.list_tenants(after=after, limit=limit + 1)
        page, more = rows[:limit], len(rows) > limit
        token = (
            encode_page_token(
                {"t": page[-1]["created_at"].isoformat(), "id": str(page[-1]["id"])}, filters={}
            )
            if more
            else ""
        )
        return tapi.ListTenantsResponse(
            tenants=[mapping.tenant_to_proto(r) for r in page], next_page_token=token
        )

    async def UpdateTenant(
        self, request: tapi.UpdateTenantRequest, context: Any
    ) -> tapi.UpdateTenantResponse:
        """Rename a tenant or change its zone (admin)."""
        current_principal().require(ADMIN_SCOPE)
        _require_uuid(request.tenant.id, "tenant.id")
        changes: dict[str, Any] = {}
        for path in request.update_mask.paths:
            if path == "display_name":
                changes["display_name"] = request.tenant.display_name
            elif path == "time_zone":
                changes["time_zone"] = request.tenant.time_zone
            else:
                raise InvalidArgument.field("update_mask", f"cannot update {path!r}")
        if not changes:
            raise InvalidArgument.field("update_mask", "name display_name and/or time_zone")
        row = await self._service.update_tenant(
            tenant_id=request.tenant.id, changes=changes, etag=request.tenant.etag
        )
        return tapi.UpdateTenantResponse(tenant=mapping.tenant_to_proto(row))

    async def IssueToken(
        self, request: tapi.IssueTokenRequest, context: Any
    ) -> tapi.IssueTokenResponse:
        """Sign a token for a tenant with the given scopes (admin)."""
        current_principal().require(ADMIN_SCOPE)
        violations: list[FieldViolation] = []
        if request.tenant_id:
            _require_uuid(request.tenant_id, "tenant_id")
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
        subject = request.subject or f"user:{uuid.uuid4()}"
        token = self._authority.issue(
            subject=subject,
            tenant_id=request.tenant_id or None,
            scopes=scopes,
            ttl_seconds=int(ttl.total_seconds()),
        )
        claims = self._authority.verify(token)
        expire = tapi.IssueTokenResponse(token=token, scopes=sorted(claims.scopes))
        expire.expire_time.FromDatetime(datetime.now(UTC) + ttl)
        return expire


def _require_uuid(value: str, field: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise InvalidArgument.field(field, "must be a UUID") from exc
