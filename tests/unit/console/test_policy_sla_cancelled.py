"""The policy editor offers ``sla.cancelled`` (unchecked unless the policy selects it) and
sends it when it is checked; an existing policy's other kinds do not imply it."""

from __future__ import annotations

import re

import httpx

from tests.unit.console.test_app import FakeMesh, sign_in
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import resources_pb2 as notify_res


def _box(html: str, value: str) -> str:
    found = re.search(
        rf'<label><input type="checkbox" name="event_types" value="{value}"[^>]*>', html
    )
    assert found, html
    return found.group(0)


async def test_a_policy_can_select_sla_cancelled_and_an_old_one_does_not(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    csrf = await sign_in(client)
    mesh.answers["ListChannels"] = notify_api.ListChannelsResponse(
        channels=[notify_res.Channel(id="c1", display_name="Ops")]
    )
    mesh.answers["GetNotificationPolicy"] = notify_api.GetNotificationPolicyResponse(
        notification_policy=notify_res.NotificationPolicy(
            id="p1",
            display_name="breaches",
            event_types=[notify_res.NOTIFICATION_EVENT_TYPE_SLA_BREACHED],
            channel_ids=["c1"],
            etag="3",
        )
    )
    page = await client.get("/notifications/policies/p1")
    assert page.status_code == 200, page.text
    assert "checked" in _box(page.text, "sla_breached")
    assert "checked" not in _box(page.text, "sla_cancelled")
    mesh.answers["CreateNotificationPolicy"] = notify_api.CreateNotificationPolicyResponse(
        notification_policy=notify_res.NotificationPolicy(id="p2")
    )
    reply = await client.post(
        "/notifications/policies/new",
        data={
            "csrf_token": csrf,
            "display_name": "merges",
            "event_types": "sla_cancelled",
            "channel_ids": "c1",
        },
    )
    assert reply.status_code == 303, reply.text
    sent = next(r for _, m, r in mesh.calls if m == "CreateNotificationPolicy")
    assert isinstance(sent, notify_api.CreateNotificationPolicyRequest)
    assert list(sent.notification_policy.event_types) == [
        notify_res.NOTIFICATION_EVENT_TYPE_SLA_CANCELLED
    ]
