"""Issue 14, finding 6: bad requests that answered INTERNAL or were stored silently.

Each request is valid but for one value (the same request with a good value is accepted,
see ``test_the_bases_are_accepted``); each must answer INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from tests.integration.contracts.answers import violations
from tests.integration.contracts.mesh import Mesh
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import resources_pb2 as notify_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.sla.v1 import resources_pb2 as sla_pb
from triage.sla.v1 import sla_service_pb2 as sla_api
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

pytestmark = pytest.mark.integration

MB = "x" * 1_000_000
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INGEST, TENANTS = "/triage.ingest.v1.IngestService/", "/triage.ingest.v1.TenantService/"
RULES, TICKETS = "/triage.rules.v1.RulesService/", "/triage.tickets.v1.TicketsService/"
SLA, NOTIFY = "/triage.sla.v1.SlaService/", "/triage.notify.v1.NotifyService/"


def ts(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def at(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def span(seconds: int, nanos: int = 0) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=seconds, nanos=nanos)


def unique(name: str) -> str:
    """``name`` made unique, so a base never collides with an earlier one (ALREADY_EXISTS)."""
    return f"{name} {uuid.uuid4().hex[:8]}"


def rule() -> rules_pb.Rule:
    return rules_pb.Rule(
        display_name=unique("disk alerts"),
        actions=rules_pb.Actions(ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET),
    )


def window() -> rules_pb.MaintenanceWindow:
    return rules_pb.MaintenanceWindow(
        display_name=unique("patch night"),
        one_off=rules_pb.OneOffSchedule(
            start_time=at(NOW + timedelta(days=400)), end_time=at(NOW + timedelta(days=401))
        ),
    )


def policy() -> sla_pb.SlaPolicy:
    return sla_pb.SlaPolicy(
        display_name=unique("gold"),
        scope=sla_pb.PolicyScope(kind=sla_pb.POLICY_SCOPE_KIND_CLIENT, client_id=unique("acme")),
        targets=[
            sla_pb.PriorityTargets(
                priority=tickets_pb.PRIORITY_P3, resolution=sla_pb.SlaTarget(duration=span(7200))
            )
        ],
    )


def webhook() -> notify_pb.Channel:
    return notify_pb.Channel(
        display_name=unique("ops hook"),
        webhook=notify_pb.WebhookConfig(
            url="http://127.0.0.1:9/hook", signing_secret="whsec-test-0123456789"
        ),
    )


def smtp() -> notify_pb.Channel:
    return notify_pb.Channel(
        display_name=unique("ops mail"),
        smtp=notify_pb.SmtpConfig(
            host="127.0.0.1",
            port=2525,
            security=notify_pb.SMTP_SECURITY_NONE,
            from_address="triage@example.com",
            to_addresses=["ops@example.com"],
        ),
    )


async def rejected(running: Mesh, rpc: str, request: Any) -> dict[str, str]:
    """The field violations of ``rpc``'s INVALID_ARGUMENT answer to ``request``."""
    error = await running.error(rpc, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    return violations(error)


@pytest.fixture(scope="module")
async def ticket_id(running: Mesh) -> str:
    """A ticket of the walker tenant."""
    stub = running.channels["tickets"].unary_unary(
        TICKETS + "CreateTicket",
        request_serializer=tickets_api.CreateTicketRequest.SerializeToString,
        response_deserializer=tickets_api.CreateTicketResponse.FromString,
    )
    reply = await stub(
        tickets_api.CreateTicketRequest(ticket=tickets_pb.Ticket(title="Disk full on srv-01")),
        metadata=running.metadata,
    )
    return str(reply.ticket.id)


async def test_the_bases_are_accepted(running: Mesh, ticket_id: str) -> None:
    """Control: every base below is valid, so each rejection is the bad value's doing."""
    for rpc, request in [
        (RULES + "CreateRule", rules_api.CreateRuleRequest(rule=rule())),
        (
            RULES + "CreateMaintenanceWindow",
            rules_api.CreateMaintenanceWindowRequest(maintenance_window=window()),
        ),
        (SLA + "CreateSlaPolicy", sla_api.CreateSlaPolicyRequest(sla_policy=policy())),
        (NOTIFY + "CreateChannel", notify_api.CreateChannelRequest(channel=webhook())),
        (NOTIFY + "CreateChannel", notify_api.CreateChannelRequest(channel=smtp())),
        (
            TICKETS + "AddTimeEntry",
            tickets_api.AddTimeEntryRequest(
                ticket_id=ticket_id,
                time_entry=tickets_pb.TimeEntry(duration=span(600), start_time=at(NOW)),
            ),
        ),
    ]:
        assert await running.send(rpc, request) is None, rpc


# --- were INTERNAL -----------------------------------------------------------------------------


async def test_out_of_range_and_malformed_timestamps(running: Mesh, ticket_id: str) -> None:
    far = window()
    far.one_off.start_time.seconds = 10**15
    request: Any = rules_api.CreateMaintenanceWindowRequest(maintenance_window=far)
    found = await rejected(running, RULES + "CreateMaintenanceWindow", request)
    assert "maintenance_window.one_off.start_time" in found

    entry = tickets_pb.TimeEntry(duration=span(600), start_time=ts(1_700_000_000, -1))
    request = tickets_api.AddTimeEntryRequest(ticket_id=ticket_id, time_entry=entry)
    assert "time_entry.start_time" in await rejected(running, TICKETS + "AddTimeEntry", request)

    request = ingest_api.ListAlertEventsRequest(start_time=ts(10**15))
    assert "start_time" in await rejected(running, INGEST + "ListAlertEvents", request)
    request = tickets_api.ListTicketsRequest(end_time=ts(1_700_000_000, 2_000_000_000))
    assert "end_time" in await rejected(running, TICKETS + "ListTickets", request)


async def test_durations_beyond_what_the_services_can_hold(running: Mesh) -> None:
    persistent = rule()
    persistent.actions.persistence.count = 3
    persistent.actions.persistence.within.seconds = 10**15
    found = await rejected(
        running, RULES + "CreateRule", rules_api.CreateRuleRequest(rule=persistent)
    )
    assert "rule.actions.persistence.within" in found

    slow = policy()
    slow.targets[0].resolution.duration.seconds = 10**15
    request: Any = sla_api.CreateSlaPolicyRequest(sla_policy=slow)
    found = await rejected(running, SLA + "CreateSlaPolicy", request)
    assert "sla_policy.targets[0].resolution.duration" in found

    request = ingest_api.RotateIntegrationSecretRequest(
        integration_id="0193c1a2-1111-7000-8000-000000000001", overlap=span(10**15)
    )
    assert "overlap" in await rejected(running, INGEST + "RotateIntegrationSecret", request)

    limited = webhook()
    limited.rate_limit.max_messages = 10
    limited.rate_limit.period.seconds = 10**15
    request = notify_api.CreateChannelRequest(channel=limited)
    found = await rejected(running, NOTIFY + "CreateChannel", request)
    assert "channel.rate_limit.period" in found


async def test_unknown_enum_numbers(running: Mesh) -> None:
    request: Any = ingest_api.ListAlertEventsRequest(providers=[99])  # type: ignore[list-item]
    assert "providers[0]" in await rejected(running, INGEST + "ListAlertEvents", request)
    request = ingest_api.ListIntegrationsRequest(provider=99)  # type: ignore[arg-type]
    assert "provider" in await rejected(running, INGEST + "ListIntegrations", request)
    mail = smtp()
    mail.smtp.security = 99  # type: ignore[assignment]
    request = notify_api.CreateChannelRequest(channel=mail)
    assert "channel.smtp.security" in await rejected(running, NOTIFY + "CreateChannel", request)


async def test_megabyte_names_and_request_ids(running: Mesh) -> None:
    tenant = tenant_api.CreateTenantRequest(tenant=ingest_pb.Tenant(display_name=MB))
    admin = running.services["ingest"].admin_metadata()
    error = await running.error(TENANTS + "CreateTenant", tenant, admin)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tenant.display_name" in violations(error)
    request = rules_api.CreateRuleRequest(request_id=MB, rule=rule())
    assert "request_id" in await rejected(running, RULES + "CreateRule", request)


async def test_nul_in_ticket_title_and_queue(running: Mesh) -> None:
    for ticket in (
        tickets_pb.Ticket(title="disk\x00full"),
        tickets_pb.Ticket(title="disk full", queue="ops\x00"),
    ):
        request = tickets_api.CreateTicketRequest(ticket=ticket)
        found = await rejected(running, TICKETS + "CreateTicket", request)
        assert set(found) & {"ticket.title", "ticket.queue"}
        assert all("NUL" in description for description in found.values())


async def test_unparsable_channel_url(running: Mesh) -> None:
    hook = webhook()
    hook.webhook.url = "http://[::1"
    request = notify_api.CreateChannelRequest(channel=hook)
    assert "channel.webhook.url" in await rejected(running, NOTIFY + "CreateChannel", request)


async def test_a_huge_bad_value_is_not_echoed(running: Mesh) -> None:
    """A 1 MB value once came back whole in the trailers (RESOURCE_EXHAUSTED)."""
    named = rule()
    named.display_name = MB
    error = await running.error(RULES + "CreateRule", rules_api.CreateRuleRequest(rule=named))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    texts = [error.details() or "", *(f"{k}: {v}" for k, v in violations(error).items())]
    assert all(len(text) <= 128 and "x" * 65 not in text for text in texts)


# --- were accepted silently --------------------------------------------------------------------


async def test_undefined_ticket_action_and_channel_kind(running: Mesh) -> None:
    odd = rule()
    odd.actions.ticket_action = 99  # type: ignore[assignment]
    found = await rejected(running, RULES + "CreateRule", rules_api.CreateRuleRequest(rule=odd))
    assert "rule.actions.ticket_action" in found
    hook = webhook()
    hook.kind = 99  # type: ignore[assignment]
    request = notify_api.CreateChannelRequest(channel=hook)
    assert "channel.kind" in await rejected(running, NOTIFY + "CreateChannel", request)


async def test_smtp_kind_with_a_webhook_config(running: Mesh) -> None:
    hook = webhook()
    hook.kind = notify_pb.CHANNEL_KIND_SMTP
    request = notify_api.CreateChannelRequest(channel=hook)
    assert "channel.kind" in await rejected(running, NOTIFY + "CreateChannel", request)


async def test_sla_policy_without_targets(running: Mesh) -> None:
    empty = policy()
    del empty.targets[:]
    request = sla_api.CreateSlaPolicyRequest(sla_policy=empty)
    assert "sla_policy.targets" in await rejected(running, SLA + "CreateSlaPolicy", request)


async def test_escalation_to_an_undefined_priority_or_by_negative_levels(running: Mesh) -> None:
    for escalate, field in (
        (sla_pb.EscalateAction(priority=99), "priority"),  # type: ignore[arg-type]
        (sla_pb.EscalateAction(raise_levels=-5), "raise_levels"),
    ):
        escalating = policy()
        escalating.thresholds.add(percent=75).actions.add(escalate=escalate)
        request = sla_api.CreateSlaPolicyRequest(sla_policy=escalating)
        found = await rejected(running, SLA + "CreateSlaPolicy", request)
        assert f"sla_policy.thresholds[0].actions[0].escalate.{field}" in found


async def test_megabyte_titles_and_comments(running: Mesh, ticket_id: str) -> None:
    request: Any = tickets_api.CreateTicketRequest(ticket=tickets_pb.Ticket(title=MB))
    assert "ticket.title" in await rejected(running, TICKETS + "CreateTicket", request)
    request = tickets_api.AddCommentRequest(
        ticket_id=ticket_id, comment=tickets_pb.Comment(body=MB)
    )
    assert "comment.body" in await rejected(running, TICKETS + "AddComment", request)


async def test_twenty_thousand_keywords(running: Mesh) -> None:
    wordy = rule()
    wordy.conditions.keywords.extend(f"k{i}" for i in range(20_000))
    found = await rejected(running, RULES + "CreateRule", rules_api.CreateRuleRequest(rule=wordy))
    assert "rule.conditions.keywords" in found
