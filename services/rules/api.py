"""The RulesService gRPC servicer: scopes, request shape, proto <-> domain through convert."""

from __future__ import annotations

from typing import Any

from services.rules.convert.alerts import decision, logged_decision
from services.rules.convert.common import mask_paths
from services.rules.convert.correlation import (
    CORRELATION_MUTABLE,
    correlation_block,
    correlation_draft,
    correlation_from_row,
    patched_correlation,
    proposed_correlation,
)
from services.rules.convert.correlation_simulation import correlation_simulation_response
from services.rules.convert.rules import (
    RULE_MUTABLE,
    named_rule,
    patched_rule,
    rule_draft,
    rule_from_row,
)
from services.rules.convert.simulation import proposed_rules, simulation_response
from services.rules.convert.windows import (
    STATE_NAMES,
    WINDOW_MUTABLE,
    patched_window,
    proposed_window,
    window_draft,
    window_scope,
    window_to_proto,
)
from services.rules.domain.records import CorrelationRuleRecord, RuleRecord
from services.rules.domain.views import Reordered, WindowView
from services.rules.service import RulesService
from services.rules.service.common import canonical_uuid
from triage.rules.v1 import correlation_pb2 as cpb
from triage.rules.v1 import rules_service_pb2 as pb
from triage.rules.v1 import rules_service_pb2_grpc as pb_grpc
from triage.runtime import IdempotentReply, InvalidArgument, caller, from_timestamp, to_timestamp

READ = "rules:read"
WRITE = "rules:write"
SERVICE_NAME = "triage.rules.v1.RulesService"


def _state_name(state: int) -> str:
    # A state no window has (unspecified, unknown) selects nothing, as it always did.
    return STATE_NAMES.get(state, str(state))


class RulesApi(pb_grpc.RulesServiceServicer):
    """Translates RulesService calls to use cases; errors are mapped by the runtime."""

    def __init__(self, service: RulesService) -> None:
        self._service = service

    async def CreateRule(
        self, request: pb.CreateRuleRequest, context: Any
    ) -> pb.CreateRuleResponse:
        """Create a rule."""
        tenant = caller(WRITE).tenant_id

        def respond(row: RuleRecord) -> pb.CreateRuleResponse:
            return pb.CreateRuleResponse(rule=rule_from_row(row))

        return await self._service.rules.create(
            tenant_id=tenant,
            draft=rule_draft(request.rule),
            position=request.position if request.HasField("position") else None,
            reply=IdempotentReply("CreateRule", request.request_id, pb.CreateRuleResponse, respond),
        )

    async def GetRule(self, request: pb.GetRuleRequest, context: Any) -> pb.GetRuleResponse:
        """Get a rule."""
        tenant = caller(READ).tenant_id
        row = await self._service.rules.get(tenant_id=tenant, rule_id=request.rule_id)
        return pb.GetRuleResponse(rule=rule_from_row(row))

    async def ListRules(self, request: pb.ListRulesRequest, context: Any) -> pb.ListRulesResponse:
        """List rules in evaluation order."""
        tenant = caller(READ).tenant_id
        page = await self._service.rules.page(
            tenant_id=tenant,
            size=request.page_size,
            page_token=request.page_token,
            show_disabled=request.show_disabled,
        )
        return pb.ListRulesResponse(
            rules=[rule_from_row(r) for r in page.rules],
            rule_set_version=page.rule_set_version,
            next_page_token=page.next_page_token,
        )

    async def UpdateRule(
        self, request: pb.UpdateRuleRequest, context: Any
    ) -> pb.UpdateRuleResponse:
        """Update the masked fields of a rule."""
        tenant = caller(WRITE).tenant_id
        canonical_uuid(request.rule.id, "rule.id")
        paths = mask_paths(request.update_mask, RULE_MUTABLE)

        def respond(row: RuleRecord) -> pb.UpdateRuleResponse:
            return pb.UpdateRuleResponse(rule=rule_from_row(row))

        return await self._service.rules.update(
            tenant_id=tenant,
            rule_id=request.rule.id,
            given_etag=request.rule.etag,
            named=named_rule(request.rule),
            paths=paths,
            patch=patched_rule(request.rule, paths),
            reply=IdempotentReply("UpdateRule", request.request_id, pb.UpdateRuleResponse, respond),
        )

    async def DeleteRule(
        self, request: pb.DeleteRuleRequest, context: Any
    ) -> pb.DeleteRuleResponse:
        """Delete a rule."""
        tenant = caller(WRITE).tenant_id

        def respond(version: int) -> pb.DeleteRuleResponse:
            return pb.DeleteRuleResponse(rule_set_version=version)

        return await self._service.rules.delete(
            tenant_id=tenant,
            rule_id=request.rule_id,
            given_etag=request.etag,
            reply=IdempotentReply("DeleteRule", request.request_id, pb.DeleteRuleResponse, respond),
        )

    async def ReorderRules(
        self, request: pb.ReorderRulesRequest, context: Any
    ) -> pb.ReorderRulesResponse:
        """Set the evaluation order."""
        tenant = caller(WRITE).tenant_id

        def respond(done: Reordered[RuleRecord]) -> pb.ReorderRulesResponse:
            return pb.ReorderRulesResponse(
                rules=[rule_from_row(r) for r in done.rules],
                rule_set_version=done.rule_set_version,
            )

        return await self._service.rules.reorder(
            tenant_id=tenant,
            rule_ids=list(request.rule_ids),
            expected_version=request.expected_rule_set_version,
            reply=IdempotentReply(
                "ReorderRules", request.request_id, pb.ReorderRulesResponse, respond
            ),
        )

    async def CreateMaintenanceWindow(
        self, request: pb.CreateMaintenanceWindowRequest, context: Any
    ) -> pb.CreateMaintenanceWindowResponse:
        """Create a maintenance window."""
        who = caller(WRITE)

        def respond(view: WindowView) -> pb.CreateMaintenanceWindowResponse:
            return pb.CreateMaintenanceWindowResponse(maintenance_window=window_to_proto(view))

        return await self._service.windows.create(
            tenant_id=who.tenant_id,
            draft=window_draft(request.maintenance_window),
            creator=who.principal.subject,
            reply=IdempotentReply(
                "CreateMaintenanceWindow",
                request.request_id,
                pb.CreateMaintenanceWindowResponse,
                respond,
            ),
        )

    async def GetMaintenanceWindow(
        self, request: pb.GetMaintenanceWindowRequest, context: Any
    ) -> pb.GetMaintenanceWindowResponse:
        """Get a maintenance window."""
        tenant = caller(READ).tenant_id
        view = await self._service.windows.get(tenant_id=tenant, window_id=request.window_id)
        return pb.GetMaintenanceWindowResponse(maintenance_window=window_to_proto(view))

    async def ListMaintenanceWindows(
        self, request: pb.ListMaintenanceWindowsRequest, context: Any
    ) -> pb.ListMaintenanceWindowsResponse:
        """List maintenance windows."""
        tenant = caller(READ).tenant_id
        start = from_timestamp(request.start_time) if request.HasField("start_time") else None
        end = from_timestamp(request.end_time) if request.HasField("end_time") else None
        if (start is None) != (end is None):
            raise InvalidArgument.field("end_time", "start_time and end_time go together")
        page = await self._service.windows.page(
            tenant_id=tenant,
            size=request.page_size,
            page_token=request.page_token,
            states=[_state_name(s) for s in request.states],
            start=start,
            end=end,
        )
        return pb.ListMaintenanceWindowsResponse(
            maintenance_windows=[window_to_proto(v) for v in page.windows],
            next_page_token=page.next_page_token,
        )

    async def UpdateMaintenanceWindow(
        self, request: pb.UpdateMaintenanceWindowRequest, context: Any
    ) -> pb.UpdateMaintenanceWindowResponse:
        """Update a maintenance window."""
        tenant = caller(WRITE).tenant_id
        window = request.maintenance_window
        canonical_uuid(window.id, "maintenance_window.id")
        paths = mask_paths(request.update_mask, WINDOW_MUTABLE)

        def respond(view: WindowView) -> pb.UpdateMaintenanceWindowResponse:
            return pb.UpdateMaintenanceWindowResponse(maintenance_window=window_to_proto(view))

        return await self._service.windows.update(
            tenant_id=tenant,
            window_id=window.id,
            given_etag=window.etag,
            scope=window_scope(window.scope),
            paths=paths,
            patch=patched_window(window, paths),
            reply=IdempotentReply(
                "UpdateMaintenanceWindow",
                request.request_id,
                pb.UpdateMaintenanceWindowResponse,
                respond,
            ),
        )

    async def EndMaintenanceWindow(
        self, request: pb.EndMaintenanceWindowRequest, context: Any
    ) -> pb.EndMaintenanceWindowResponse:
        """End a maintenance window now."""
        tenant = caller(WRITE).tenant_id

        def respond(view: WindowView) -> pb.EndMaintenanceWindowResponse:
            return pb.EndMaintenanceWindowResponse(maintenance_window=window_to_proto(view))

        return await self._service.windows.end(
            tenant_id=tenant,
            window_id=request.window_id,
            end_recurrence=request.end_recurrence,
            reply=IdempotentReply(
                "EndMaintenanceWindow",
                request.request_id,
                pb.EndMaintenanceWindowResponse,
                respond,
            ),
        )

    async def DeleteMaintenanceWindow(
        self, request: pb.DeleteMaintenanceWindowRequest, context: Any
    ) -> pb.DeleteMaintenanceWindowResponse:
        """Delete a maintenance window."""
        tenant = caller(WRITE).tenant_id

        def respond(_: None) -> pb.DeleteMaintenanceWindowResponse:
            return pb.DeleteMaintenanceWindowResponse()

        return await self._service.windows.delete(
            tenant_id=tenant,
            window_id=request.window_id,
            given_etag=request.etag,
            reply=IdempotentReply(
                "DeleteMaintenanceWindow",
                request.request_id,
                pb.DeleteMaintenanceWindowResponse,
                respond,
            ),
        )

    async def EvaluateAlert(
        self, request: pb.EvaluateAlertRequest, context: Any
    ) -> pb.EvaluateAlertResponse:
        """Decide one alert without side effects."""
        tenant = caller(READ).tenant_id
        target = request.WhichOneof("target")
        if target is None:
            raise InvalidArgument.field("target", "alert_id or alert is required")
        evaluation = await self._service.evaluating.evaluate(
            tenant_id=tenant,
            alert_id=request.alert_id if target == "alert_id" else None,
            alert=request.alert.SerializeToString() if target == "alert" else None,
            at=from_timestamp(request.evaluate_time) if request.HasField("evaluate_time") else None,
        )
        response = pb.EvaluateAlertResponse(decision=decision(evaluation))
        if evaluation.correlation is not None:
            response.correlation.CopyFrom(correlation_block(evaluation.correlation))
        return response

    async def GetAlertDecision(
        self, request: pb.GetAlertDecisionRequest, context: Any
    ) -> pb.GetAlertDecisionResponse:
        """The decision logged when the alert was received."""
        tenant = caller(READ).tenant_id
        row = await self._service.evaluating.logged(tenant_id=tenant, alert_id=request.alert_id)
        return pb.GetAlertDecisionResponse(
            decision=logged_decision(row),
            create_ticket=row.create_ticket,
            decide_time=to_timestamp(row.decided_at),
        )

    async def SimulateRules(
        self, request: pb.SimulateRulesRequest, context: Any
    ) -> pb.SimulateRulesResponse:
        """Replay stored alerts through proposed rules and windows."""
        tenant = caller(READ).tenant_id
        if not request.HasField("start_time"):
            raise InvalidArgument.field("start_time", "is required")
        if request.max_alerts < 0:
            raise InvalidArgument.field("max_alerts", "must not be negative")
        result = await self._service.simulating.simulate(
            tenant_id=tenant,
            start=from_timestamp(request.start_time),
            end=from_timestamp(request.end_time) if request.HasField("end_time") else None,
            max_alerts=request.max_alerts,
            rules=proposed_rules(request.proposed_rules.rules)
            if request.HasField("proposed_rules")
            else None,
            windows=[
                proposed_window(m, i)
                for i, m in enumerate(request.proposed_windows.maintenance_windows)
            ]
            if request.HasField("proposed_windows")
            else None,
        )
        return simulation_response(result)

    async def CreateCorrelationRule(
        self, request: cpb.CreateCorrelationRuleRequest, context: Any
    ) -> cpb.CreateCorrelationRuleResponse:
        """Create a correlation rule."""
        tenant = caller(WRITE).tenant_id

        def respond(row: CorrelationRuleRecord) -> cpb.CreateCorrelationRuleResponse:
            return cpb.CreateCorrelationRuleResponse(correlation_rule=correlation_from_row(row))

        return await self._service.correlation.create(
            tenant_id=tenant,
            draft=correlation_draft(request.correlation_rule),
            position=request.position if request.HasField("position") else None,
            reply=IdempotentReply(
                "CreateCorrelationRule",
                request.request_id,
                cpb.CreateCorrelationRuleResponse,
                respond,
            ),
        )

    async def GetCorrelationRule(
        self, request: cpb.GetCorrelationRuleRequest, context: Any
    ) -> cpb.GetCorrelationRuleResponse:
        """Get a correlation rule."""
        tenant = caller(READ).tenant_id
        row = await self._service.correlation.get(
            tenant_id=tenant, rule_id=request.correlation_rule_id
        )
        return cpb.GetCorrelationRuleResponse(correlation_rule=correlation_from_row(row))

    async def ListCorrelationRules(
        self, request: cpb.ListCorrelationRulesRequest, context: Any
    ) -> cpb.ListCorrelationRulesResponse:
        """List correlation rules in evaluation order."""
        tenant = caller(READ).tenant_id
        page = await self._service.correlation.page(
            tenant_id=tenant,
            size=request.page_size,
            page_token=request.page_token,
            show_disabled=request.show_disabled,
        )
        return cpb.ListCorrelationRulesResponse(
            correlation_rules=[correlation_from_row(r) for r in page.rules],
            rule_set_version=page.rule_set_version,
            next_page_token=page.next_page_token,
        )

    async def UpdateCorrelationRule(
        self, request: cpb.UpdateCorrelationRuleRequest, context: Any
    ) -> cpb.UpdateCorrelationRuleResponse:
        """Update the masked fields of a correlation rule."""
        tenant = caller(WRITE).tenant_id
        canonical_uuid(request.correlation_rule.id, "correlation_rule.id")
        paths = mask_paths(request.update_mask, CORRELATION_MUTABLE)

        def respond(row: CorrelationRuleRecord) -> cpb.UpdateCorrelationRuleResponse:
            return cpb.UpdateCorrelationRuleResponse(correlation_rule=correlation_from_row(row))

        return await self._service.correlation.update(
            tenant_id=tenant,
            rule_id=request.correlation_rule.id,
            given_etag=request.correlation_rule.etag,
            patch=patched_correlation(request.correlation_rule, paths),
            reply=IdempotentReply(
                "UpdateCorrelationRule",
                request.request_id,
                cpb.UpdateCorrelationRuleResponse,
                respond,
            ),
        )

    async def DeleteCorrelationRule(
        self, request: cpb.DeleteCorrelationRuleRequest, context: Any
    ) -> cpb.DeleteCorrelationRuleResponse:
        """Delete a correlation rule."""
        tenant = caller(WRITE).tenant_id

        def respond(version: int) -> cpb.DeleteCorrelationRuleResponse:
            return cpb.DeleteCorrelationRuleResponse(rule_set_version=version)

        return await self._service.correlation.delete(
            tenant_id=tenant,
            rule_id=request.correlation_rule_id,
            given_etag=request.etag,
            reply=IdempotentReply(
                "DeleteCorrelationRule",
                request.request_id,
                cpb.DeleteCorrelationRuleResponse,
                respond,
            ),
        )

    async def ReorderCorrelationRules(
        self, request: cpb.ReorderCorrelationRulesRequest, context: Any
    ) -> cpb.ReorderCorrelationRulesResponse:
        """Set the correlation rules' evaluation order."""
        tenant = caller(WRITE).tenant_id

        def respond(
            done: Reordered[CorrelationRuleRecord],
        ) -> cpb.ReorderCorrelationRulesResponse:
            return cpb.ReorderCorrelationRulesResponse(
                correlation_rules=[correlation_from_row(r) for r in done.rules],
                rule_set_version=done.rule_set_version,
            )

        return await self._service.correlation.reorder(
            tenant_id=tenant,
            rule_ids=[
                canonical_uuid(r, "correlation_rule_ids") for r in request.correlation_rule_ids
            ],
            expected_version=request.expected_rule_set_version,
            reply=IdempotentReply(
                "ReorderCorrelationRules",
                request.request_id,
                cpb.ReorderCorrelationRulesResponse,
                respond,
            ),
        )

    async def SimulateCorrelation(
        self, request: cpb.SimulateCorrelationRequest, context: Any
    ) -> cpb.SimulateCorrelationResponse:
        """Replay stored alerts through correlation rules: incidents and tickets saved."""
        tenant = caller(READ).tenant_id
        if not request.HasField("start_time"):
            raise InvalidArgument.field("start_time", "is required")
        proposed, violations = (
            proposed_correlation(request.proposed.correlation_rules)
            if request.HasField("proposed")
            else (None, ())
        )
        result = await self._service.simulating_correlation.simulate(
            tenant_id=tenant,
            start=from_timestamp(request.start_time),
            end=from_timestamp(request.end_time) if request.HasField("end_time") else None,
            max_alerts=request.max_alerts,
            proposed=proposed,
            violations=violations,
        )
        return correlation_simulation_response(result, request.max_incidents)
