"""Notifications: channels with test-send, policies, the delivery log with resend."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from services.console.web import action, back_to, call, call_or_none, form, page, render
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import resources_pb2 as notify_res

PAGE_SIZE = 50
LIST_PAGE = 25
_STATUS = {
    k.removeprefix("DELIVERY_STATUS_").lower(): v for k, v in notify_res.DeliveryStatus.items()
}


async def overview(request: Request) -> Response:
    """Channels and policies, each a cursor page at a time."""
    q = request.query_params
    channels, policies = await asyncio.gather(
        call(
            request,
            "notify",
            "ListChannels",
            notify_api.ListChannelsRequest(
                page_size=LIST_PAGE, page_token=q.get("channels_token", "")
            ),
        ),
        call_or_none(
            request,
            "notify",
            "ListNotificationPolicies",
            notify_api.ListNotificationPoliciesRequest(
                page_size=LIST_PAGE, page_token=q.get("policies_token", "")
            ),
        ),
    )
    return render(
        request,
        "notifications.html",
        channels=list(channels.channels),
        channels_next=channels.next_page_token,
        channels_token=q.get("channels_token", ""),
        names={c.id: c.display_name for c in channels.channels},
        policies=list(policies.notification_policies) if policies is not None else [],
        policies_next=policies.next_page_token if policies is not None else "",
        notice=q.get("notice", ""),
    )


async def test_send(request: Request) -> Response:
    """SendTestNotification; the endpoint's answer is shown (as a fragment for htmx)."""
    data = await form(request)
    reply = await call(
        request,
        "notify",
        "SendTestNotification",
        notify_api.SendTestNotificationRequest(
            request_id=data.get("request_id", ""),
            channel_id=request.path_params["channel_id"],
            message=data.get("message", "") or "Test from the Triage console",
        ),
    )
    template = "_test_result.html" if request.headers.get("hx-request") else "test_result.html"
    return render(request, template, result=reply, channel_id=request.path_params["channel_id"])


async def deliveries(request: Request) -> Response:
    """The delivery log with every attempt, filtered by status, one cursor page at a time."""
    q = request.query_params
    req = notify_api.ListDeliveriesRequest(
        page_size=PAGE_SIZE,
        page_token=q.get("page_token", ""),
        channel_id=q.get("channel", ""),
        ticket_id=q.get("ticket", ""),
    )
    if q.get("status") in _STATUS:
        req.statuses.append(_STATUS[q["status"]])
    reply = await call(request, "notify", "ListDeliveries", req)
    keep = {k: v for k, v in q.items() if k != "page_token" and v}
    return render(
        request,
        "deliveries.html",
        deliveries=list(reply.deliveries),
        next_token=reply.next_page_token,
        filters=keep,
        notice=q.get("notice", ""),
    )


async def resend(request: Request) -> Response:
    """RetryDelivery."""
    data = await form(request)
    await call(
        request,
        "notify",
        "RetryDelivery",
        notify_api.RetryDeliveryRequest(
            request_id=data.get("request_id", ""), delivery_id=request.path_params["delivery_id"]
        ),
    )
    return back_to("/notifications/deliveries", "Delivery queued again")


ROUTES = [
    page("/notifications", overview),
    action("/notifications/channels/{channel_id}/test", test_send),
    page("/notifications/deliveries", deliveries),
    action("/notifications/deliveries/{delivery_id}/resend", resend),
]
