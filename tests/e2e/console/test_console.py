"""The console in a real browser against the real mesh (issue 20).

One webhook becomes a ticket an engineer comments on and closes; a rule is edited and
simulated; a channel is test-sent to a local receiver; a read-only token is offered no
actions and a forced POST is refused by the service; another tenant's ticket is a 404.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from playwright.async_api import Browser, Page, expect

from tests.e2e.console.conftest import Receiver
from tests.e2e.harness import Mesh, Tenant, eventually
from triage.devstack.seed import SAMPLE_TRIGGER
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.notify.v1 import resources_pb2 as notify_res
from triage.rules.v1 import resources_pb2 as rules_res
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.tickets.v1 import resources_pb2 as tickets_res

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)


async def signed_in(browser: Browser, url: str, token: str) -> Page:
    """A fresh browser context signed in with ``token`` (through the sign-in form)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{url}/login")
    await page.get_by_label("Your API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Now", exact=True)).to_be_visible()
    return page


async def open_ticket(tenant: Tenant, device: str) -> tickets_res.Ticket:
    """Post one NinjaOne trigger for ``device`` and wait for its ticket."""
    integration = await tenant.integration("ninjaone")
    body = dict(SAMPLE_TRIGGER)
    body.update(
        id=int(time.time() * 1000) % 2_000_000_000,
        seriesUid=f"console-{uuid.uuid4().hex[:8]}",
        device={"id": 42, "displayName": device, "organizationId": 7},
        message=f"Disk C: on {device} has 4% free space",
    )
    await integration.post(json.dumps(body).encode())

    async def found() -> tickets_res.Ticket | None:
        mine = [t for t in await tenant.list_tickets() if device in t.title]
        return mine[0] if mine else None

    return await eventually(found, what=f"ticket for {device}")


async def test_alert_to_closed_ticket(
    mesh: Mesh, console_url: str, browser: Browser, screenshots: Path
) -> None:
    tenant = await mesh.new_tenant("console")
    await tenant.catch_all_rule()
    page = await signed_in(browser, console_url, tenant.token)
    ticket = await open_ticket(tenant, "SRV-CONSOLE1")

    # The board polls itself; the new ticket shows up without a reload.
    await expect(page.get_by_role("link", name=re.compile("SRV-CONSOLE1"))).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("critical")
    await page.screenshot(path=screenshots / "now.png", full_page=True)

    await page.get_by_role("link", name=re.compile("SRV-CONSOLE1")).first.click()
    await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    await page.get_by_label("Comment").fill("Freed 20 GB on C:")
    await page.get_by_role("button", name="Add comment").click()
    await expect(page.get_by_role("status")).to_contain_text("Comment added")
    await expect(page.locator(".timeline")).to_contain_text("Freed 20 GB on C:")
    await page.screenshot(path=screenshots / "ticket.png", full_page=True)

    await page.get_by_label("Resolution (public)").fill("Disk cleaned")
    await page.get_by_role("button", name="Close ticket").click()
    await expect(page.locator("#ticket-status")).to_have_text("Closed")
    await expect(page.get_by_role("button", name="Reopen ticket")).to_be_visible()

    (stored,) = [t for t in await tenant.list_tickets() if t.id == ticket.id]
    assert stored.status == tickets_res.TICKET_STATUS_CLOSED
    assert stored.human_touched
    assert "Freed 20 GB on C:" in [c.body for c in await tenant.comments(ticket.id)]

    for path, name in (
        ("/alerts", "alerts"),
        ("/integrations", "integrations"),
        ("/sla", "sla"),
        ("/notifications/deliveries", "deliveries"),
    ):
        answer = await page.goto(console_url + path)
        assert answer is not None and answer.status == 200, path
        await page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    await page.get_by_role("link", name="Alerts").click()
    await page.get_by_role("link", name=re.compile("Disk C")).first.click()
    await expect(page.get_by_role("heading", name="Rule decision")).to_be_visible()
    await expect(page.get_by_text("Logged when the alert arrived")).to_be_visible()
    await expect(page.locator("pre")).to_contain_text("SRV-CONSOLE1")
    await expect(page.get_by_role("link", name=f"#{ticket.number} SRV-CONSOLE1")).to_be_visible()
    await page.screenshot(path=screenshots / "alert.png", full_page=True)
    await page.context.close()


async def test_edit_rule_and_simulate(
    mesh: Mesh, console_url: str, browser: Browser, screenshots: Path
) -> None:
    tenant = await mesh.new_tenant("rules")
    rule = await tenant.catch_all_rule()
    await open_ticket(tenant, "SRV-SIM1")
    page = await signed_in(browser, console_url, tenant.token)
    await page.goto(f"{console_url}/rules/{rule.id}")

    await page.get_by_label("Message regex (RE2)").fill("(unclosed")
    await page.get_by_role("button", name="Save rule").click()
    await expect(page.locator("#message_regex-error")).to_be_visible()

    await page.get_by_label("Message regex (RE2)").fill("free space")
    await page.get_by_label("Name", exact=True).fill("Disk alerts only")
    await page.get_by_role("button", name="Simulate").click()
    await expect(page.locator("#simulation")).to_contain_text("alerts replayed")
    await page.screenshot(path=screenshots / "rule-simulate.png", full_page=True)
    await page.get_by_role("button", name="Save rule").click()
    await expect(page.get_by_role("status")).to_contain_text("Rule saved")
    reply = await tenant.rules.GetRule(
        rules_api.GetRuleRequest(rule_id=rule.id), metadata=tenant.md
    )
    stored = reply.rule
    assert stored.display_name == "Disk alerts only"
    assert stored.conditions.message_regex == "free space"
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    end.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    created = await tenant.rules.CreateMaintenanceWindow(
        rules_api.CreateMaintenanceWindowRequest(
            maintenance_window=rules_res.MaintenanceWindow(
                display_name="Patch night",
                one_off=rules_res.OneOffSchedule(start_time=start, end_time=end),
            )
        ),
        metadata=tenant.md,
    )
    await page.goto(f"{console_url}/rules")
    await page.screenshot(path=screenshots / "rules.png", full_page=True)
    await page.get_by_role("button", name="End now").click()
    await expect(page.get_by_role("status")).to_contain_text("Window ended")
    window = await tenant.rules.GetMaintenanceWindow(
        rules_api.GetMaintenanceWindowRequest(window_id=created.maintenance_window.id),
        metadata=tenant.md,
    )
    assert window.maintenance_window.state == rules_res.MAINTENANCE_WINDOW_STATE_ENDED
    await page.context.close()


async def test_test_send_shows_the_endpoint_answer(
    mesh: Mesh, console_url: str, browser: Browser, screenshots: Path, receiver: Receiver
) -> None:
    tenant = await mesh.new_tenant("notify")
    stub = notify_grpc.NotifyServiceStub(mesh.channels["notify"])
    await stub.CreateChannel(
        notify_api.CreateChannelRequest(
            channel=notify_res.Channel(
                display_name="Ops hook",
                kind=notify_res.CHANNEL_KIND_WEBHOOK,
                webhook=notify_res.WebhookConfig(
                    url=receiver.url, signing_secret="console-e2e-signing-secret"
                ),
            )
        ),
        metadata=tenant.md,
    )
    page = await signed_in(browser, console_url, tenant.token)
    await page.get_by_role("link", name="Notifications").click()
    await page.get_by_role("button", name="Send test").click()
    result = page.locator(".test-result")
    await expect(result).to_contain_text("Delivered")
    await expect(result).to_contain_text("HTTP 200")
    assert len(receiver.bodies) == 1
    await page.screenshot(path=screenshots / "notifications.png", full_page=True)
    await page.context.close()


async def test_window_and_channel_editors_and_payload_preview(
    mesh: Mesh, console_url: str, browser: Browser, receiver: Receiver
) -> None:
    tenant = await mesh.new_tenant("editors")
    page = await signed_in(browser, console_url, tenant.token)
    await page.goto(f"{console_url}/windows/new")
    await page.get_by_label("Name", exact=True).fill("Saturday patching")
    await page.get_by_label("Start", exact=True).fill("2030-01-05T22:00")
    await page.get_by_label("End (once)").fill("2030-01-05T21:00")
    await page.get_by_role("button", name="Save window").click()
    await expect(page.locator("#end-error")).to_be_visible()
    await page.get_by_label("End (once)").fill("2030-01-06T02:00")
    await page.get_by_role("button", name="Save window").click()
    await expect(page.get_by_role("status")).to_contain_text("Window saved")
    listed = await tenant.rules.ListMaintenanceWindows(
        rules_api.ListMaintenanceWindowsRequest(), metadata=tenant.md
    )
    assert [w.display_name for w in listed.maintenance_windows] == ["Saturday patching"]

    await page.goto(f"{console_url}/notifications/channels/new")
    await page.get_by_label("Name", exact=True).fill("Ops hook")
    await page.locator("#webhook-url").fill(receiver.url)
    await page.get_by_role("button", name="Save channel").click()
    await expect(page.locator("#signing_secret-error")).to_be_visible()
    await page.get_by_label("Signing secret").fill("console-e2e-signing-secret")
    await page.get_by_role("button", name="Save channel").click()
    await expect(page.get_by_role("status")).to_contain_text("Channel saved")
    await page.get_by_label("Payload preview for").select_option("sla_breached")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator(".preview")).to_contain_text("SLA breached")
    assert receiver.bodies == [], "a preview sends nothing"
    await page.context.close()


async def test_default_channel_checkbox_round_trips(
    mesh: Mesh, console_url: str, browser: Browser, receiver: Receiver
) -> None:
    tenant = await mesh.new_tenant("defaults")
    stub = notify_grpc.NotifyServiceStub(mesh.channels["notify"])

    async def stored(channel_id: str) -> notify_res.Channel:
        reply = await stub.GetChannel(
            notify_api.GetChannelRequest(channel_id=channel_id), metadata=tenant.md
        )
        found: notify_res.Channel = reply.channel
        return found

    page = await signed_in(browser, console_url, tenant.token)
    await page.goto(f"{console_url}/notifications/channels/new")
    await page.get_by_label("Name", exact=True).fill("Phone")
    await page.locator("#webhook-url").fill(receiver.url)
    await page.get_by_label("Signing secret").fill("console-e2e-signing-secret")
    await page.get_by_label("Default channel").check()
    await page.get_by_role("button", name="Save channel").click()
    await expect(page.get_by_role("status")).to_contain_text("Channel saved")
    channel_id = page.url.split("?")[0].rsplit("/", 1)[-1]
    assert (await stored(channel_id)).default
    await page.reload()
    await expect(page.get_by_label("Default channel")).to_be_checked()
    await page.goto(f"{console_url}/notifications")
    await expect(page.locator(f"#ch-{channel_id} .pill.default")).to_have_text("default")

    await page.goto(f"{console_url}/notifications/channels/{channel_id}")
    await page.get_by_label("Name", exact=True).fill("Phone (on call)")
    await page.get_by_role("button", name="Save channel").click()
    await expect(page.get_by_role("status")).to_contain_text("Channel saved")
    renamed = await stored(channel_id)
    assert (renamed.display_name, renamed.default) == ("Phone (on call)", True)

    await page.get_by_label("Default channel").uncheck()
    await page.get_by_role("button", name="Save channel").click()
    await expect(page.get_by_role("status")).to_contain_text("Channel saved")
    assert not (await stored(channel_id)).default
    await page.goto(f"{console_url}/notifications")
    await expect(page.locator(f"#ch-{channel_id} .pill.default")).to_have_count(0)
    await expect(page.get_by_text("No channel is marked default")).to_be_visible()
    await page.context.close()


async def test_read_only_token_cannot_mutate(
    mesh: Mesh, console_url: str, browser: Browser
) -> None:
    tenant = await mesh.new_tenant("readonly")
    await tenant.catch_all_rule()
    ticket = await open_ticket(tenant, "SRV-RO1")
    reader = mesh.authority.issue(
        subject="viewer",
        tenant_id=tenant.tenant_id,
        scopes=["tickets:read", "rules:read", "sla:read", "notify:read", "ingest:read"],
    )
    page = await signed_in(browser, console_url, reader)
    await page.goto(f"{console_url}/tickets/{ticket.id}")
    await expect(page.get_by_text("read-only for tickets")).to_be_visible()
    assert await page.get_by_role("button", name="Add comment").count() == 0
    assert await page.get_by_role("button", name="Close ticket").count() == 0

    headers = await page.locator("body").get_attribute("hx-headers")
    csrf = json.loads(headers or "{}")["x-csrf-token"]
    forced = await page.request.post(
        f"{console_url}/tickets/{ticket.id}/comment",
        form={"csrf_token": csrf, "body": "sneaky", "visibility": "public"},
    )
    assert forced.status == 403
    assert "Not allowed" in await forced.text()
    no_csrf = await page.request.post(
        f"{console_url}/tickets/{ticket.id}/close", form={"resolution": "x"}
    )
    assert no_csrf.status == 403
    assert "sneaky" not in [c.body for c in await tenant.comments(ticket.id)]
    await page.context.close()


async def test_another_tenants_ticket_is_not_found(
    mesh: Mesh, console_url: str, browser: Browser
) -> None:
    owner = await mesh.new_tenant("owner")
    await owner.catch_all_rule()
    ticket = await open_ticket(owner, "SRV-OWN1")
    stranger = await mesh.new_tenant("stranger")
    page = await signed_in(browser, console_url, stranger.token)
    answer = await page.goto(f"{console_url}/tickets/{ticket.id}")
    assert answer is not None and answer.status == 404
    await expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    await page.context.close()


async def test_phone_and_dark_mode(
    mesh: Mesh, console_url: str, browser: Browser, screenshots: Path
) -> None:
    tenant = await mesh.new_tenant("phone")
    await tenant.catch_all_rule()
    ticket = await open_ticket(tenant, "SRV-PHONE1")
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True
    )
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{console_url}/login")
    await page.get_by_label("Your API token").fill(tenant.token)
    await page.get_by_role("button", name="Sign in").click()
    await page.goto(f"{console_url}/tickets/{ticket.id}")
    await expect(page.get_by_role("button", name="Add comment")).to_be_visible()
    # Nothing wider than the phone: no sideways scrolling.
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 19, 22)", background
    await page.screenshot(path=screenshots / "ticket-phone-dark.png", full_page=True)
    await context.close()
