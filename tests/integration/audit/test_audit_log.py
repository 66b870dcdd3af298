"""The audit log over the whole mesh: each service records its mutating calls (success and
error) with actor, tenant, RPC, target, code and a request digest, never the payload;
entries page by filters, stay within their tenant, and expire."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf.message import Message

from tests.integration.audit.conftest import libpq
from tests.integration.contracts.mesh import Mesh
from triage.audit.v1 import audit_pb2 as audit_api
from triage.audit.v1 import audit_pb2_grpc as audit_grpc
from triage.cli.main import main as cli_main
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import ingest_service_pb2_grpc as ingest_grpc
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenant_api
from triage.ingest.v1 import tenant_service_pb2_grpc as tenant_grpc
from triage.mesh import SERVICE_NAMES
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import notify_service_pb2_grpc as notify_grpc
from triage.notify.v1 import resources_pb2 as notify_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.rules.v1 import rules_service_pb2_grpc as rules_grpc
from triage.runtime.audit_service import retention_worker
from triage.runtime.audit_store import purge_before
from triage.runtime.db import Database
from triage.sla.v1 import resources_pb2 as sla_pb
from triage.sla.v1 import sla_service_pb2 as sla_api
from triage.sla.v1 import sla_service_pb2_grpc as sla_grpc
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api
from triage.tickets.v1 import tickets_service_pb2_grpc as tickets_grpc
from triage.types.v1 import time_pb2

pytestmark = pytest.mark.integration

WRITE = ("ingest:write", "rules:write", "tickets:write", "sla:write", "notify:write")
READER = (*WRITE, "audit:read")
WEBHOOK_URL = "https://hooks.example.com/services/T0/B0/s3cr3t-webhook-path-7f1e"
SIGNING_SECRET = "sig-s3cr3t-9d2c1b77"
Metadata = tuple[tuple[str, str], ...]


def md(m: Mesh, tenant: str | None, *scopes: str, subject: str = "alice@msp") -> Metadata:
    """Call metadata of ``subject`` in ``tenant`` with ``scopes``."""
    token = m.services["ingest"].authority.issue(subject=subject, tenant_id=tenant, scopes=scopes)
    return (("authorization", f"Bearer {token}"),)


def digest(request: Message) -> str:
    """What the audit log keeps of a request."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


async def new_tenant(m: Mesh, name: str) -> str:
    """Register a tenant as an administrator."""
    reply = await tenant_grpc.TenantServiceStub(m.channels["ingest"]).CreateTenant(
        tenant_api.CreateTenantRequest(tenant=ingest_pb.Tenant(display_name=name)),
        metadata=m.services["ingest"].admin_metadata(),
    )
    return str(reply.tenant.id)


async def entries(
    m: Mesh, service: str, metadata: Metadata, *, page_size: int = 100, **filters: Any
) -> list[audit_api.AuditEntry]:
    """Every entry ``service`` lists for ``filters``, page after page."""
    stub = audit_grpc.AuditServiceStub(m.channels[service])
    found: list[audit_api.AuditEntry] = []
    token = ""
    while True:
        reply = await stub.ListAuditEntries(
            audit_api.ListAuditEntriesRequest(page_size=page_size, page_token=token, **filters),
            metadata=metadata,
        )
        found += reply.entries
        token = reply.next_page_token
        if not token:
            return found


def disk_rule(name: str) -> rules_pb.Rule:
    """A valid rule."""
    return rules_pb.Rule(
        display_name=name,
        conditions=rules_pb.Conditions(conditions=["disk.*"]),
        actions=rules_pb.Actions(ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET),
    )


def office() -> sla_pb.Calendar:
    """A valid business-hours calendar."""
    return sla_pb.Calendar(
        display_name="Office",
        time_zone="Europe/London",
        shifts=[
            time_pb2.WeeklyTimeRange(
                days=[time_pb2.DayOfWeek.ValueType(d) for d in range(1, 6)],
                start=time_pb2.TimeOfDay(hours=9),
                end=time_pb2.TimeOfDay(hours=17),
            )
        ],
    )


def audit_text(url: str) -> str:
    """Every audit row of every service, as text, read as the superuser."""
    with psycopg.connect(libpq(url)) as conn:
        rows = [
            str(row[0])
            for schema in SERVICE_NAMES
            for row in conn.execute(f"SELECT a::text FROM {schema}.audit_log a").fetchall()
        ]
    return "\n".join(rows)


async def test_a_mutating_call_on_each_service_is_recorded_without_its_secrets(
    running: Mesh, audit_db: str
) -> None:
    tenant = await new_tenant(running, "audited")
    alice = md(running, tenant, *READER)
    ch = running.channels
    made: dict[str, tuple[str, Message, str]] = {}

    request: Any = ingest_api.CreateIntegrationRequest(
        request_id=str(uuid.uuid4()),
        integration=ingest_pb.Integration(provider=ingest_pb.PROVIDER_GENERIC, display_name="rmm"),
    )
    integration = await ingest_grpc.IngestServiceStub(ch["ingest"]).CreateIntegration(
        request, metadata=alice
    )
    rpc = "/triage.ingest.v1.IngestService/CreateIntegration"
    made["ingest"] = (rpc, request, integration.integration.id)

    request = rules_api.CreateRuleRequest(rule=disk_rule("disks"))
    rule = await rules_grpc.RulesServiceStub(ch["rules"]).CreateRule(request, metadata=alice)
    made["rules"] = ("/triage.rules.v1.RulesService/CreateRule", request, rule.rule.id)

    request = tickets_api.CreateTicketRequest(ticket=tickets_pb.Ticket(title="printer on fire"))
    ticket = await tickets_grpc.TicketsServiceStub(ch["tickets"]).CreateTicket(
        request, metadata=alice
    )
    made["tickets"] = ("/triage.tickets.v1.TicketsService/CreateTicket", request, ticket.ticket.id)

    request = sla_api.CreateCalendarRequest(calendar=office())
    calendar = await sla_grpc.SlaServiceStub(ch["sla"]).CreateCalendar(request, metadata=alice)
    made["sla"] = ("/triage.sla.v1.SlaService/CreateCalendar", request, calendar.calendar.id)

    request = notify_api.CreateChannelRequest(
        channel=notify_pb.Channel(
            display_name="ops hook",
            webhook=notify_pb.WebhookConfig(url=WEBHOOK_URL, signing_secret=SIGNING_SECRET),
        )
    )
    channel = await notify_grpc.NotifyServiceStub(ch["notify"]).CreateChannel(
        request, metadata=alice
    )
    made["notify"] = ("/triage.notify.v1.NotifyService/CreateChannel", request, channel.channel.id)

    for service, (rpc, sent, target) in made.items():
        assert target, service
        [entry] = await entries(running, service, alice, target_id=target)
        assert entry.actor == "alice@msp"
        assert entry.tenant_id == tenant
        assert entry.rpc == rpc
        assert entry.code == "OK"
        assert entry.service == service
        assert entry.request_sha256 == digest(sent)
        assert entry.time.seconds > 0
    [ingest_entry] = await entries(running, "ingest", alice, target_id=made["ingest"][2])
    assert ingest_entry.request_id == made["ingest"][1].request_id  # type: ignore[attr-defined]

    stored = audit_text(audit_db)
    assert tenant in stored
    for secret in (WEBHOOK_URL, "s3cr3t", SIGNING_SECRET, integration.secret):
        assert secret and secret not in stored


async def test_refused_calls_are_recorded_and_reads_are_not(running: Mesh) -> None:
    tenant = await new_tenant(running, "refusals")
    stub = rules_grpc.RulesServiceStub(running.channels["rules"])
    mallory = md(running, tenant, "tickets:write", subject="mallory")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.CreateRule(rules_api.CreateRuleRequest(rule=disk_rule("x")), metadata=mallory)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    alice = md(running, tenant, *READER)
    bad = rules_api.CreateRuleRequest(rule=rules_pb.Rule(display_name=""))
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.CreateRule(bad, metadata=alice)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await stub.ListRules(rules_api.ListRulesRequest(), metadata=alice)
    missing = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as absent:
        await stub.DeleteRule(rules_api.DeleteRuleRequest(rule_id=missing), metadata=alice)
    assert absent.value.code() == grpc.StatusCode.NOT_FOUND

    found = await entries(running, "rules", alice)
    assert [(e.actor, e.rpc.rsplit("/", 1)[1], e.code) for e in found] == [
        ("alice@msp", "DeleteRule", "NOT_FOUND"),
        ("alice@msp", "CreateRule", "INVALID_ARGUMENT"),
        ("mallory", "CreateRule", "PERMISSION_DENIED"),
    ]
    assert found[0].target_id == missing
    assert found[1].request_sha256 == digest(bad)


async def test_pages_and_filters_and_the_cli_merges_every_service(
    running: Mesh, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = await new_tenant(running, "paging")
    alice = md(running, tenant, *READER)
    bob = md(running, tenant, *WRITE, subject="bob")
    rules = rules_grpc.RulesServiceStub(running.channels["rules"])
    tickets = tickets_grpc.TicketsServiceStub(running.channels["tickets"])
    created: list[str] = []
    for i in range(7):
        reply = await rules.CreateRule(
            rules_api.CreateRuleRequest(rule=disk_rule(f"r{i}")), metadata=alice
        )
        created.append(reply.rule.id)
        await tickets.CreateTicket(
            tickets_api.CreateTicketRequest(ticket=tickets_pb.Ticket(title=f"t{i}")),
            metadata=alice,
        )
    cut = datetime.now(UTC)
    for i in range(3):
        await rules.CreateRule(rules_api.CreateRuleRequest(rule=disk_rule(f"b{i}")), metadata=bob)
    await rules.DeleteRule(rules_api.DeleteRuleRequest(rule_id=created[0]), metadata=alice)

    paged = await entries(running, "rules", alice, page_size=3, actor="alice@msp")
    assert len(paged) == 8 and len({e.id for e in paged}) == 8
    stamps = [(e.time.seconds, e.time.nanos) for e in paged]
    assert stamps == sorted(stamps, reverse=True)
    assert [e.target_id for e in paged[1:]] == created[::-1]
    assert len(await entries(running, "rules", alice, page_size=2, actor="bob")) == 3
    deletes = await entries(running, "rules", alice, rpc="DeleteRule")
    assert [e.target_id for e in deletes] == [created[0]]
    full = "/triage.rules.v1.RulesService/DeleteRule"
    assert [e.id for e in await entries(running, "rules", alice, rpc=full)] == [deletes[0].id]
    assert len(await entries(running, "rules", alice, target_id=created[0])) == 2
    since = audit_api.ListAuditEntriesRequest().since_time
    since.FromDatetime(cut)
    later = await entries(running, "rules", alice, since_time=since)
    assert {e.actor for e in later} == {"bob", "alice@msp"} and len(later) == 4

    with pytest.raises(grpc.aio.AioRpcError) as mixed:
        await audit_grpc.AuditServiceStub(running.channels["rules"]).ListAuditEntries(
            audit_api.ListAuditEntriesRequest(page_size=3, page_token=paged[0].resume_token),
            metadata=alice,
        )
    assert mixed.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # The CLI merges the five services' logs newest first, five entries a page.
    token = alice[0][1].removeprefix("Bearer ")
    addresses = [
        arg
        for name, svc in running.services.items()
        for arg in (f"--{name}-addr", svc.grpc_address)
    ]
    seen: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(10):
        argv = ["audit", "list", "--actor", "alice@msp", "--limit", "5", "--json"]
        argv += [*addresses, "--token", token] + (["--cursor", cursor] if cursor else [])
        assert await asyncio.to_thread(cli_main, argv) == 0
        page = json.loads(capsys.readouterr().out)
        seen += page["entries"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    argv = ["audit", "list", "--rpc", "DeleteRule", "--limit", "1", *addresses, "--token", token]
    assert await asyncio.to_thread(cli_main, argv) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["TIME", "SERVICE", "ACTOR", "RPC", "TARGET", "CODE"]
    assert table[1].split()[2:] == ["rules", "alice@msp", "DeleteRule", created[0], "OK"]
    assert len(table) == 2  # one page held the only match: no cursor to follow
    assert len(seen) == 15 and len({e["id"] for e in seen}) == 15
    assert {e["service"] for e in seen} == {"rules", "tickets"}
    times = [e["time"] for e in seen]
    assert times == sorted(times, reverse=True)


async def test_another_tenants_entries_are_invisible(running: Mesh) -> None:
    mine, theirs = await new_tenant(running, "mine"), await new_tenant(running, "theirs")
    rules = rules_grpc.RulesServiceStub(running.channels["rules"])
    rule = await rules.CreateRule(
        rules_api.CreateRuleRequest(rule=disk_rule("mine")), metadata=md(running, mine, *WRITE)
    )
    other = md(running, theirs, *READER, subject="eve")
    assert await entries(running, "rules", other) == []
    assert await entries(running, "rules", other, target_id=rule.rule.id) == []
    stub = audit_grpc.AuditServiceStub(running.channels["rules"])
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.ListAuditEntries(
            audit_api.ListAuditEntriesRequest(tenant_id=mine), metadata=other
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    without_scope = md(running, mine, *WRITE)
    with pytest.raises(grpc.aio.AioRpcError) as unscoped:
        await stub.ListAuditEntries(audit_api.ListAuditEntriesRequest(), metadata=without_scope)
    assert unscoped.value.code() == grpc.StatusCode.PERMISSION_DENIED

    admin = running.services["ingest"].admin_metadata()
    named = await entries(running, "rules", admin, tenant_id=mine)
    assert [e.target_id for e in named] == [rule.rule.id]
    # An administrator's registry calls name the tenant they act on.
    registry = await entries(running, "ingest", admin, tenant_id=theirs)
    assert [(e.rpc.rsplit("/", 1)[1], e.target_id) for e in registry] == [("CreateTenant", theirs)]
    everyone = await entries(running, "rules", admin, target_id=rule.rule.id)
    assert [e.tenant_id for e in everyone] == [mine]


async def test_retention_deletes_old_entries_only(running: Mesh, audit_db: str) -> None:
    tenant = await new_tenant(running, "retention")
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    insert = (
        "INSERT INTO rules.audit_log (id, tenant_id, actor, rpc, target_id, request_id, code, "
        "request_sha256, at) VALUES (%s, %s, 'a', '/x.v1.S/CreateX', '', '', 'OK', 'h', %s)"
    )
    with psycopg.connect(libpq(audit_db)) as conn:
        conn.execute(insert, (old, tenant, datetime.now(UTC) - timedelta(days=500)))
        conn.execute(insert, (recent, tenant, datetime.now(UTC) - timedelta(days=300)))
    db = Database(audit_db, schema="rules")
    try:
        assert await purge_before(db, datetime.now(UTC) - timedelta(days=400)) >= 1
        left = {e.id for e in await entries(running, "rules", md(running, tenant, *READER))}
        assert left == {recent}

        # The worker runs a pass at once (then every hour): 200 days keeps nothing older.
        task = asyncio.create_task(retention_worker(db, timedelta(days=200))())
        deadline = asyncio.get_running_loop().time() + 20
        while left and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
            left = {e.id for e in await entries(running, "rules", md(running, tenant, *READER))}
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert left == set()
    finally:
        await db.dispose()
