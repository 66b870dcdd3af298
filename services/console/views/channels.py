"""Notification channels and policies: create, edit, disable, with errors beside fields."""

from __future__ import annotations

from typing import Any

from google.protobuf import field_mask_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.console.mesh import ApiError
from services.console.views.channel_form import (
    CHANNEL_FIELDS,
    KINDS,
    POLICY_FIELDS,
    channel_from_form,
    channel_kind,
    policy_from_form,
)
from services.console.views.fields import place
from services.console.web import action, back_to, call, form_lists, page, render
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import resources_pb2 as notify_res

MAX_CHANNEL_CHOICES = 500
EVENT_TYPES = {
    k.removeprefix("NOTIFICATION_EVENT_TYPE_").lower(): v
    for k, v in notify_res.NotificationEventType.items()
    if v
}


def _channel_editor(
    request: Request,
    channel: notify_res.Channel,
    *,
    new: bool,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "channel.html",
        status,
        channel=channel,
        kind=channel_kind(channel) or "webhook",
        kinds=KINDS,
        new=new,
        errors=errors or {},
        notice=request.query_params.get("notice", ""),
    )


async def _get_channel(request: Request, channel_id: str) -> notify_res.Channel:
    reply = await call(
        request, "notify", "GetChannel", notify_api.GetChannelRequest(channel_id=channel_id)
    )
    found: notify_res.Channel = reply.channel
    return found


async def new_channel_page(request: Request) -> Response:
    """The editor for a new channel (kind chosen in the form)."""
    return _channel_editor(request, notify_res.Channel(), new=True)


async def channel_page(request: Request) -> Response:
    """The editor for one channel."""
    channel = await _get_channel(request, request.path_params["channel_id"])
    return _channel_editor(request, channel, new=False)


async def save_channel(request: Request) -> Response:
    """CreateChannel or UpdateChannel (with the etag shown; blank secrets are kept)."""
    fields = await form_lists(request)
    one = {k: v[-1] for k, v in fields.items()}
    channel_id = request.path_params.get("channel_id", "")
    base = await _get_channel(request, channel_id) if channel_id else None
    edited, paths, errors = channel_from_form(fields, base=base)
    if base is not None:
        edited.etag = one.get("etag") or base.etag
    if errors:
        return _channel_editor(request, edited, new=base is None, errors=errors, status=400)
    try:
        if base is None:
            reply = await call(
                request,
                "notify",
                "CreateChannel",
                notify_api.CreateChannelRequest(
                    request_id=one.get("request_id", ""), channel=edited
                ),
            )
        else:
            reply = await call(
                request,
                "notify",
                "UpdateChannel",
                notify_api.UpdateChannelRequest(
                    request_id=one.get("request_id", ""),
                    channel=edited,
                    update_mask=field_mask_pb2.FieldMask(paths=paths),
                ),
            )
    except ApiError as error:
        if error.code != "INVALID_ARGUMENT":
            raise
        placed = place(error.fields, CHANNEL_FIELDS) or {"_": error.message}
        if "_" in placed and error.message not in placed["_"]:
            placed["_"] = f"{error.message}: {placed['_']}"
        return _channel_editor(request, edited, new=base is None, errors=placed, status=400)
    return back_to(f"/notifications/channels/{reply.channel.id}", "Channel saved")


async def toggle_channel(request: Request) -> Response:
    """Disable or enable a channel (UpdateChannel of ``disabled`` alone, with its etag)."""
    one = {k: v[-1] for k, v in (await form_lists(request)).items()}
    await call(
        request,
        "notify",
        "UpdateChannel",
        notify_api.UpdateChannelRequest(
            request_id=one.get("request_id", ""),
            channel=notify_res.Channel(
                id=request.path_params["channel_id"],
                etag=one.get("etag", ""),
                disabled=one.get("disabled") == "true",
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["disabled"]),
        ),
    )
    done = "Channel disabled" if one.get("disabled") == "true" else "Channel enabled"
    return back_to("/notifications", done)


async def _channel_choices(request: Request) -> list[Any]:
    """Every channel (a few pages at most) for the policy editor's checkboxes."""
    out: list[Any] = []
    req = notify_api.ListChannelsRequest(page_size=100)
    while len(out) < MAX_CHANNEL_CHOICES:
        reply = await call(request, "notify", "ListChannels", req)
        out += reply.channels
        if not reply.next_page_token:
            break
        req.page_token = reply.next_page_token
    return out


async def _policy_editor(
    request: Request,
    policy: notify_res.NotificationPolicy,
    *,
    new: bool,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "policy.html",
        status,
        policy=policy,
        channels=await _channel_choices(request),
        new=new,
        errors=errors or {},
        notice=request.query_params.get("notice", ""),
    )


async def _get_policy(request: Request, policy_id: str) -> notify_res.NotificationPolicy:
    reply = await call(
        request,
        "notify",
        "GetNotificationPolicy",
        notify_api.GetNotificationPolicyRequest(notification_policy_id=policy_id),
    )
    found: notify_res.NotificationPolicy = reply.notification_policy
    return found


async def new_policy_page(request: Request) -> Response:
    """The editor for a new policy."""
    return await _policy_editor(request, notify_res.NotificationPolicy(), new=True)


async def policy_page(request: Request) -> Response:
    """The editor for one policy."""
    policy = await _get_policy(request, request.path_params["policy_id"])
    return await _policy_editor(request, policy, new=False)


async def save_policy(request: Request) -> Response:
    """CreateNotificationPolicy or UpdateNotificationPolicy (with the etag shown)."""
    fields = await form_lists(request)
    one = {k: v[-1] for k, v in fields.items()}
    policy_id = request.path_params.get("policy_id", "")
    base = await _get_policy(request, policy_id) if policy_id else None
    edited, paths = policy_from_form(fields, base=base)
    if base is not None:
        edited.etag = one.get("etag") or base.etag
    try:
        if base is None:
            reply = await call(
                request,
                "notify",
                "CreateNotificationPolicy",
                notify_api.CreateNotificationPolicyRequest(
                    request_id=one.get("request_id", ""), notification_policy=edited
                ),
            )
        else:
            reply = await call(
                request,
                "notify",
                "UpdateNotificationPolicy",
                notify_api.UpdateNotificationPolicyRequest(
                    request_id=one.get("request_id", ""),
                    notification_policy=edited,
                    update_mask=field_mask_pb2.FieldMask(paths=paths),
                ),
            )
    except ApiError as error:
        if error.code != "INVALID_ARGUMENT":
            raise
        placed = place(error.fields, POLICY_FIELDS) or {"_": error.message}
        return await _policy_editor(request, edited, new=base is None, errors=placed, status=400)
    policy_id = reply.notification_policy.id
    return back_to(f"/notifications/policies/{policy_id}", "Policy saved")


async def preview(request: Request) -> Response:
    """PreviewChannelMessage for one event type (a fragment for htmx; nothing is sent)."""
    event = request.query_params.get("event", "ticket_opened")
    value = EVENT_TYPES.get(event, 0)
    channel_id = request.path_params["channel_id"]
    shown = await call(
        request,
        "notify",
        "PreviewChannelMessage",
        notify_api.PreviewChannelMessageRequest(
            channel_id=channel_id,
            event_type=value,  # type: ignore[arg-type]
        ),
    )
    template = "_preview_result.html" if request.headers.get("hx-request") else "preview.html"
    return render(request, template, shown=shown, event=event, channel_id=channel_id)


ROUTES = [
    page("/notifications/channels/new", new_channel_page),
    action("/notifications/channels/new", save_channel),
    page("/notifications/channels/{channel_id}", channel_page),
    action("/notifications/channels/{channel_id}", save_channel),
    action("/notifications/channels/{channel_id}/toggle", toggle_channel),
    page("/notifications/channels/{channel_id}/preview", preview),
    page("/notifications/policies/new", new_policy_page),
    action("/notifications/policies/new", save_policy),
    page("/notifications/policies/{policy_id}", policy_page),
    action("/notifications/policies/{policy_id}", save_policy),
]
