"""Maintenance windows: create, edit (schedule and scope), with errors beside fields."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import field_mask_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.console.mesh import ApiError
from services.console.views.fields import place
from services.console.views.window_form import FIELDS, form_time, new_window, window_from_form
from services.console.web import action, back_to, call, form, page, render
from triage.rules.v1 import resources_pb2 as rules_res
from triage.rules.v1 import rules_service_pb2 as rules_api


def _editor(
    request: Request,
    window: rules_res.MaintenanceWindow,
    *,
    new: bool,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    schedule = window.WhichOneof("schedule") or "one_off"
    start = window.recurring.start_time if schedule == "recurring" else window.one_off.start_time
    return render(
        request,
        "window.html",
        status,
        window=window,
        new=new,
        schedule=schedule,
        start=form_time(start),
        end=form_time(window.one_off.end_time),
        duration_minutes=window.recurring.duration.seconds // 60 if schedule == "recurring" else "",
        errors=errors or {},
        notice=request.query_params.get("notice", ""),
    )


async def new_window_page(request: Request) -> Response:
    """The editor for a new window (one-off, two hours from the next hour)."""
    return _editor(request, new_window(datetime.now(UTC)), new=True)


async def window_page(request: Request) -> Response:
    """The editor for one window."""
    reply = await call(
        request,
        "rules",
        "GetMaintenanceWindow",
        rules_api.GetMaintenanceWindowRequest(window_id=request.path_params["window_id"]),
    )
    return _editor(request, reply.maintenance_window, new=False)


async def save_window(request: Request) -> Response:
    """CreateMaintenanceWindow or UpdateMaintenanceWindow (with the etag shown)."""
    one = await form(request)
    window_id = request.path_params.get("window_id", "")
    base = None
    if window_id:
        base = (
            await call(
                request,
                "rules",
                "GetMaintenanceWindow",
                rules_api.GetMaintenanceWindowRequest(window_id=window_id),
            )
        ).maintenance_window
    edited, paths, errors = window_from_form(one, base=base)
    if base is not None:
        edited.etag = one.get("etag") or base.etag
    if errors:
        return _editor(request, edited, new=base is None, errors=errors, status=400)
    try:
        if base is None:
            reply = await call(
                request,
                "rules",
                "CreateMaintenanceWindow",
                rules_api.CreateMaintenanceWindowRequest(
                    request_id=one.get("request_id", ""), maintenance_window=edited
                ),
            )
        else:
            reply = await call(
                request,
                "rules",
                "UpdateMaintenanceWindow",
                rules_api.UpdateMaintenanceWindowRequest(
                    request_id=one.get("request_id", ""),
                    maintenance_window=edited,
                    update_mask=field_mask_pb2.FieldMask(paths=paths),
                ),
            )
    except ApiError as error:
        if error.code != "INVALID_ARGUMENT":
            raise
        placed = place(error.fields, FIELDS) or {"_": error.message}
        return _editor(request, edited, new=base is None, errors=placed, status=400)
    return back_to(f"/windows/{reply.maintenance_window.id}", "Window saved")


ROUTES = [
    page("/windows/new", new_window_page),
    action("/windows/new", save_window),
    page("/windows/{window_id}", window_page),
    action("/windows/{window_id}", save_window),
]
