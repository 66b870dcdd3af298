"""The RulesService gRPC servicer: scopes, request shape, proto in and out."""

from __future__ import annotations

from typing import Any

from services.rules.service import RulesService
from triage.rules.v1 import rules_service_pb2 as pb
from triage.rules.v1 import rules_service_pb2_grpc as pb_grpc
from triage.runtime import InvalidArgument, Principal, current_principal, from_timestamp

READ = "rules:read"
WRITE = "rules:write"
SERVICE_NAME = "triage.rules.v1.RulesService"


def _caller(scope: str) -> tuple[str, Principal]:
    principal = current_principal()
    principal.require(scope)
    return principal.require_tenant(), principal


class RulesApi(pb_grpc.RulesServiceServicer):
    """Translates RulesService calls to use cases; errors are mapped by the runtime."""

    def __init__(self, service: RulesService) -> None:
        self._service = service

    async def CreateRule(
        self, request: pb.CreateRuleRequest, context: Any
    ) -> pb.CreateRuleResponse:
        """Create a rule."""
        tenant, _ = _caller(WRITE)
        rule = await self._service.create_rule(
            tenant_id=tenant,
            rule=request.rule,
            position=request.position if request.HasField("position") else None,
            request_id=request.request_id,
        )
        return pb.CreateRuleResponse(rule=rule)

    async def GetRule(self, request: pb.GetRuleRequest, context: Any) -> pb.GetRuleResponse:
        """Get a rule."""
        tenant, _ = _caller(READ)
        return pb.GetRuleResponse(
            rule=await self._service.get_rule(tenant_id=tenant, rule_id=request.rule_id)
        )

    async def ListRules(self, request: pb.ListRulesRequest, context: Any) -> pb.ListRulesResponse:
        """List rules in evaluation order."""
        tenant, _ = _caller(READ)
        return await self._service.list_rules(
            tenant_id=tenant,
            page_size=request.page_size,
            page_token=request.page_token,
            show_disabled=request.show_disabled,
        )

    async def UpdateRule(
        self, request: pb.UpdateRuleRequest, context: Any
    ) -> pb.UpdateRuleResponse:
        """Update the masked fields of a rule."""
        tenant, _ = _caller(WRITE)
        rule = await self._service.update_rule(
            tenant_id=tenant,
            rule=request.rule,
            mask=request.update_mask,
            request_id=request.request_id,
        )
        return pb.UpdateRuleResponse(rule=rule)

    async def DeleteRule(
        self, request: pb.DeleteRuleRequest, context: Any
    ) -> pb.DeleteRuleResponse:
        """Delete a rule."""
        tenant, _ = _caller(WRITE)
        version = await self._service.delete_rule(
            tenant_id=tenant,
            rule_id=request.rule_id,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pb.DeleteRuleResponse(rule_set_version=version)

    async def ReorderRules(
        self, request: pb.ReorderRulesRequest, context: Any
    ) -> pb.ReorderRulesResponse:
        """Set the evaluation order."""
        tenant, _ = _caller(WRITE)
        return await self._service.reorder_rules(
            tenant_id=tenant,
            rule_ids=list(request.rule_ids),
            expected_version=request.expected_rule_set_version,
            request_id=request.request_id,
        )

    async def CreateMaintenanceWindow(
        self, request: pb.CreateMaintenanceWindowRequest, context: Any
    ) -> pb.CreateMaintenanceWindowResponse:
        """Create a maintenance window."""
        tenant, principal = _caller(WRITE)
        window = await self._service.create_window(
            tenant_id=tenant,
            window=request.maintenance_window,
            creator=principal.subject,
            request_id=request.request_id,
        )
        return pb.CreateMaintenanceWindowResponse(maintenance_window=window)

    async def GetMaintenanceWindow(
        self, request: pb.GetMaintenanceWindowRequest, context: Any
    ) -> pb.GetMaintenanceWindowResponse:
        """Get a maintenance window."""
        tenant, _ = _caller(READ)
        window = await self._service.get_window(tenant_id=tenant, window_id=request.window_id)
        return pb.GetMaintenanceWindowResponse(maintenance_window=window)

    async def ListMaintenanceWindows(
        self, request: pb.ListMaintenanceWindowsRequest, context: Any
    ) -> pb.ListMaintenanceWindowsResponse:
        """List maintenance windows."""
        tenant, _ = _caller(READ)
        start = from_timestamp(request.start_time) if request.HasField("start_time") else None
        end = from_timestamp(request.end_time) if request.HasField("end_time") else None
        if (start is None) != (end is None):
            raise InvalidArgument.field("end_time", "start_time and end_time go together")
        return await self._service.list_windows(
            tenant_id=tenant,
            page_size=request.page_size,
            page_token=request.page_token,
            states=list(request.states),
            start=start,
            end=end,
        )

    async def UpdateMaintenanceWindow(
        self, request: pb.UpdateMaintenanceWindowRequest, context: Any
    ) -> pb.UpdateMaintenanceWindowResponse:
        """Update a maintenance window."""
        tenant, _ = _caller(WRITE)
        window = await self._service.update_window(
            tenant_id=tenant,
            window=request.maintenance_window,
            mask=request.update_mask,
            request_id=request.request_id,
        )
        return pb.UpdateMaintenanceWindowResponse(maintenance_window=window)

    async def EndMaintenanceWindow(
        self, request: pb.EndMaintenanceWindowRequest, context: Any
    ) -> pb.EndMaintenanceWindowResponse:
        """End a maintenance window now."""
        tenant, _ = _caller(WRITE)
        window = await self._service.end_window(
            tenant_id=tenant,
            window_id=request.window_id,
            end_recurrence=request.end_recurrence,
            request_id=request.request_id,
        )
        return pb.EndMaintenanceWindowResponse(maintenance_window=window)

    async def DeleteMaintenanceWindow(
        self, request: pb.DeleteMaintenanceWindowRequest, context: Any
    ) -> pb.DeleteMaintenanceWindowResponse:
        """Delete a maintenance window."""
        tenant, _ = _caller(WRITE)
        await self._service.delete_window(
            tenant_id=tenant,
            window_id=request.window_id,
            etag=request.etag,
            request_id=request.request_id,
        )
        return pb.DeleteMaintenanceWindowResponse()

    async def EvaluateAlert(
        self, request: pb.EvaluateAlertRequest, context: Any
    ) -> pb.EvaluateAlertResponse:
        """Decide one alert without side effects."""
        tenant, _ = _caller(READ)
        target = request.WhichOneof("target")
        if target is None:
            raise InvalidArgument.field("target", "alert_id or alert is required")
        decision = await self._service.evaluate(
            tenant_id=tenant,
            alert_id=request.alert_id if target == "alert_id" else None,
            alert=request.alert if target == "alert" else None,
            at=from_timestamp(request.evaluate_time) if request.HasField("evaluate_time") else None,
        )
        return pb.EvaluateAlertResponse(decision=decision)

    async def SimulateRules(
        self, request: pb.SimulateRulesRequest, context: Any
    ) -> pb.SimulateRulesResponse:
        """Replay stored alerts through proposed rules and windows."""
        tenant, _ = _caller(READ)
        if not request.HasField("start_time"):
            raise InvalidArgument.field("start_time", "is required")
        if request.max_alerts < 0:
            raise InvalidArgument.field("max_alerts", "must not be negative")
        return await self._service.simulate(tenant_id=tenant, request=request)
