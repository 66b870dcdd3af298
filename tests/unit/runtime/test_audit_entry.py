"""The audit entry of one call: tenant, actor, target and digest, whoever the caller is."""

from __future__ import annotations

import uuid

from triage.ingest.v1 import tenant_service_pb2 as tenants_api
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.runtime.audit import entry_for
from triage.runtime.audit_rules import request_sha256
from triage.runtime.auth import ADMIN_SCOPE, SERVICE_SCOPE, Principal
from triage.tenancy.v1 import offboarding_pb2 as offboarding_api

TENANT = str(uuid.uuid4())
ADMIN = Principal("ops@msp", None, frozenset({ADMIN_SCOPE}))


def test_a_tenant_users_call() -> None:
    request = rules_api.CreateRuleRequest(request_id="r-1", rule=rules_pb.Rule(display_name="x"))
    response = rules_api.CreateRuleResponse(rule=rules_pb.Rule(id="rule-1"))
    user = Principal("alice", TENANT, frozenset({"rules:write"}))
    row = entry_for("/triage.rules.v1.RulesService/CreateRule", user, request, response, "OK")
    assert (row.tenant_id, row.actor, row.target_id, row.request_id, row.code) == (
        TENANT,
        "alice",
        "rule-1",
        "r-1",
        "OK",
    )
    assert row.request_sha256 == request_sha256(request)


def test_an_administrators_call_is_filed_under_the_tenant_it_names() -> None:
    request = tenants_api.IssueTokenRequest(tenant_id=TENANT, scopes=["rules:write"])
    row = entry_for("/triage.ingest.v1.TenantService/IssueToken", ADMIN, request, None, "OK")
    assert (row.tenant_id, row.target_id, row.actor) == (TENANT, TENANT, "ops@msp")


def test_deleting_a_tenant_is_kept_outside_the_tenant_it_erases() -> None:
    request = offboarding_api.DeleteTenantRequest(tenant_id=TENANT)
    rpc = "/triage.tenancy.v1.OffboardingService/DeleteTenant"
    row = entry_for(rpc, ADMIN, request, None, "OK")
    assert (row.tenant_id, row.target_id) == (None, TENANT)


def test_a_service_acting_for_a_tenant_and_a_tenant_that_is_not_a_uuid() -> None:
    service = Principal("service:tickets", TENANT, frozenset({SERVICE_SCOPE}))
    request = rules_api.DeleteRuleRequest(rule_id="rule-9")
    row = entry_for("/triage.rules.v1.RulesService/DeleteRule", service, request, None, "OK")
    assert (row.tenant_id, row.actor, row.target_id) == (TENANT, "service:tickets", "rule-9")
    odd = Principal("bob", "not-a-uuid", frozenset())
    row = entry_for("/triage.rules.v1.RulesService/DeleteRule", odd, request, None, "NOT_FOUND")
    assert row.tenant_id is None
