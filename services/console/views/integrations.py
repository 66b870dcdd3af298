"""Integrations: webhook URLs, last received, poll status, secret rotation with overlap."""

from __future__ import annotations

from google.protobuf import duration_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.console.web import action, call, console, form, page, render
from triage.ingest.v1 import ingest_service_pb2 as ingest_api

OVERLAP_HOURS = (0, 1, 24, 72, 168)


async def integration_list(request: Request) -> Response:
    """Every integration (cursor page) with its webhook URL and health."""
    reply = await call(
        request,
        "ingest",
        "ListIntegrations",
        ingest_api.ListIntegrationsRequest(
            page_size=100, page_token=request.query_params.get("page_token", ""), show_disabled=True
        ),
    )
    return render(
        request,
        "integrations.html",
        integrations=list(reply.integrations),
        base=console(request).settings.console_webhook_base.rstrip("/"),
        overlaps=OVERLAP_HOURS,
        next_token=reply.next_page_token,
        filters={},
    )


async def rotate(request: Request) -> Response:
    """RotateIntegrationSecret; the new secret is shown once, on this answer only."""
    data = await form(request)
    hours = int(data.get("overlap_hours", "24")) if data.get("overlap_hours", "").isdigit() else 24
    reply = await call(
        request,
        "ingest",
        "RotateIntegrationSecret",
        ingest_api.RotateIntegrationSecretRequest(
            request_id=data.get("request_id", ""),
            integration_id=request.path_params["integration_id"],
            overlap=duration_pb2.Duration(seconds=hours * 3600),
        ),
    )
    return render(
        request,
        "rotated.html",
        integration=reply.integration,
        secret=reply.secret,
        previous_expires=reply.previous_secret_expire_time,
        base=console(request).settings.console_webhook_base.rstrip("/"),
    )


ROUTES = [
    page("/integrations", integration_list),
    action("/integrations/{integration_id}/rotate", rotate),
]
