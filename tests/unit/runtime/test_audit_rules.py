"""The audit log's classification of every RPC of every service, its target ids and digests."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import triage
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.ingest.v1 import tenant_service_pb2 as tenants_api
from triage.notify.v1 import notify_service_pb2 as notify_api
from triage.notify.v1 import resources_pb2 as notify_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.runtime.audit_rules import (
    READ_VERBS,
    is_mutating,
    request_id_of,
    request_sha256,
    target_id,
    target_of,
    tenant_named,
)
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

#: Mutating RPCs that name no single resource (batches, reorderings): their entries have
#: an empty target and are found by RPC, actor and time.
NO_TARGET = {"IngestAlerts", "ReorderRules", "ReorderCorrelationRules"}


def _every_rpc() -> list[MethodDescriptor]:
    """Every method of every gRPC service in the generated contracts (found on disk, so a
    new service or RPC is classified here without editing this test)."""
    root = Path(triage.__file__).parent
    methods: list[MethodDescriptor] = []
    for path in sorted(root.glob("*/v1/*_pb2.py")):
        module = importlib.import_module(f"triage.{path.parent.parent.name}.v1.{path.stem}")
        for service in module.DESCRIPTOR.services_by_name.values():
            methods.extend(service.methods)
    return methods


RPCS = _every_rpc()


def _name(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def test_every_rpc_is_classified_and_the_list_covers_the_mesh() -> None:
    """The walk finds the five services' contracts (and the audit service's own)."""
    services = {m.containing_service.full_name for m in RPCS}
    assert {
        "triage.ingest.v1.IngestService",
        "triage.ingest.v1.TenantService",
        "triage.rules.v1.RulesService",
        "triage.tickets.v1.TicketsService",
        "triage.sla.v1.SlaService",
        "triage.notify.v1.NotifyService",
        "triage.audit.v1.AuditService",
    } <= services
    table = {_name(m): is_mutating(_name(m)) for m in RPCS}
    assert len(table) == len(RPCS) > 60


@pytest.mark.parametrize("method", RPCS, ids=_name)
def test_a_read_takes_no_idempotency_key(method: MethodDescriptor) -> None:
    """Every RPC whose name says it reads carries no ``request_id`` (the contracts give every
    mutating RPC one for retries): a mutation named like a read cannot go unaudited."""
    if is_mutating(_name(method)):
        return
    assert method.name.startswith(READ_VERBS)
    assert "request_id" not in method.input_type.fields_by_name, (
        f"{_name(method)} takes a request_id, so it changes state, but its name reads as a "
        "read: rename it, or it would not be audited"
    )


@pytest.mark.parametrize("method", RPCS, ids=_name)
def test_an_rpc_with_an_idempotency_key_is_audited(method: MethodDescriptor) -> None:
    """Every RPC that takes a ``request_id`` is recorded."""
    if "request_id" in method.input_type.fields_by_name:
        assert is_mutating(_name(method))


@pytest.mark.parametrize(
    ("method", "mutating"),
    [
        ("/triage.rules.v1.RulesService/CreateRule", True),
        ("/triage.rules.v1.RulesService/GetRule", False),
        ("/triage.rules.v1.RulesService/EvaluateAlert", False),
        ("/triage.rules.v1.RulesService/SimulateRules", False),
        ("/triage.sla.v1.SlaService/BatchGetTicketSla", False),
        ("/triage.notify.v1.NotifyService/SendTestNotification", True),
        ("/triage.notify.v1.NotifyService/RetryDelivery", True),
        ("/triage.audit.v1.AuditService/ListAuditEntries", False),
        ("/x.v1.S/Getaway", True),
        ("/x.v1.S/Listen", True),
        ("ListThings", False),
    ],
)
def test_classification_examples(method: str, mutating: bool) -> None:
    """Read verbs count only as whole words (``Getaway`` is not a get)."""
    assert is_mutating(method) is mutating


def _fill_ids(message: Message, prefix: str) -> None:
    """Set every ``*_id`` string and every singular resource's ``id`` to a marked value."""
    for field in message.DESCRIPTOR.fields:
        if field.type == FieldDescriptor.TYPE_STRING and not field.is_repeated:
            if field.name != "request_id" and (field.name == "id" or field.name.endswith("_id")):
                setattr(message, field.name, f"{prefix}-{field.name}")
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not field.is_repeated:
            nested: Any = getattr(message, field.name)
            if "id" in nested.DESCRIPTOR.fields_by_name:
                nested.id = f"{prefix}-{field.name}.id"


@pytest.mark.parametrize("method", [m for m in RPCS if is_mutating(f"/x/{m.name}")], ids=_name)
def test_every_mutating_rpc_has_a_target(method: MethodDescriptor) -> None:
    """Each mutating RPC's entry names the resource: from the request when it names one,
    else from the response (a created resource), else (a call about the tenant itself) the
    tenant; batches name none."""
    request = GetMessageClass(method.input_type)()
    response = GetMessageClass(method.output_type)()
    _fill_ids(request, "req")
    _fill_ids(response, "resp")
    found = target_of(_name(method), request, response, "the-tenant")
    if method.name in NO_TARGET:
        assert found == ""
    else:
        assert found, f"{_name(method)} names no target"


def test_targets_of_typical_calls() -> None:
    """Create: the created id; update: the resource's id; a call on a child: the parent."""
    create = rules_api.CreateRuleRequest(request_id="r1", rule=rules_pb.Rule(display_name="x"))
    created = rules_api.CreateRuleResponse(rule=rules_pb.Rule(id="rule-1"))
    assert target_id(create, created) == "rule-1"
    update = rules_api.UpdateRuleRequest(rule=rules_pb.Rule(id="rule-2"))
    assert target_id(update, None) == "rule-2"
    comment = tickets_api.AddCommentRequest(ticket_id="t-1")
    assert target_id(comment, tickets_api.AddCommentResponse()) == "t-1"
    channel = notify_api.DeleteChannelRequest(channel_id="c-1", etag="e")
    assert target_id(channel, None) == "c-1"
    assert request_id_of(create) == "r1"
    assert request_id_of(notify_api.GetChannelRequest(channel_id="c")) == ""


def test_tenant_named_by_an_administrators_call() -> None:
    """IssueToken names the tenant in ``tenant_id``; CreateTenant returns it."""
    issue = tenants_api.IssueTokenRequest(tenant_id="t-1")
    assert tenant_named(issue, None) == "t-1"
    create = tenants_api.CreateTenantRequest(tenant=ingest_pb.Tenant(display_name="x"))
    created = tenants_api.CreateTenantResponse(tenant=ingest_pb.Tenant(id="t-2"))
    assert tenant_named(create, created) == "t-2"
    assert tenant_named(rules_api.GetRuleRequest(rule_id="r"), None) == ""


def test_request_digest_is_deterministic_and_never_the_payload() -> None:
    """Equal requests (map entries in any order) digest equally; the secret is not in it."""
    first = notify_api.CreateChannelRequest(
        channel=notify_pb.Channel(
            display_name="ops",
            webhook=notify_pb.WebhookConfig(url="https://h/s3cret", headers={"a": "1", "b": "2"}),
        )
    )
    second = notify_api.CreateChannelRequest(
        channel=notify_pb.Channel(
            webhook=notify_pb.WebhookConfig(headers={"b": "2", "a": "1"}, url="https://h/s3cret"),
            display_name="ops",
        )
    )
    assert request_sha256(first) == request_sha256(second)
    assert len(request_sha256(first)) == 64
    assert "s3cret" not in request_sha256(first)
    other = notify_api.CreateChannelRequest(channel=notify_pb.Channel(display_name="dev"))
    assert request_sha256(other) != request_sha256(first)
