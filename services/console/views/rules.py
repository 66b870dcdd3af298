"""Rules and windows: the ordered list, move up/down, the editor, and Simulate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2
from starlette.requests import Request
from starlette.responses import Response

from services.console.mesh import ApiError
from services.console.views.rule_form import field_errors, moved, rule_from_form
from services.console.web import action, back_to, call, call_or_none, form_lists, page, render
from triage.rules.v1 import resources_pb2 as rules_res
from triage.rules.v1 import rules_service_pb2 as rules_api

MAX_RULE_PAGES = 10
SIMULATE_DAYS = (1, 7, 14, 30)
WINDOWS_PAGE = 50


async def _rules(request: Request) -> tuple[list[rules_res.Rule], int]:
    """Every rule in evaluation order (disabled too) and the rule set version."""
    out: list[rules_res.Rule] = []
    req = rules_api.ListRulesRequest(page_size=500, show_disabled=True)
    version = 0
    for _ in range(MAX_RULE_PAGES):
        reply = await call(request, "rules", "ListRules", req)
        out += reply.rules
        version = reply.rule_set_version
        if not reply.next_page_token:
            break
        req.page_token = reply.next_page_token
    return sorted(out, key=lambda r: r.position), version


async def rule_list(request: Request) -> Response:
    """Rules in order with move buttons, and the maintenance windows."""
    rules, version = await _rules(request)
    windows = await call_or_none(
        request,
        "rules",
        "ListMaintenanceWindows",
        rules_api.ListMaintenanceWindowsRequest(
            page_size=WINDOWS_PAGE, page_token=request.query_params.get("windows_token", "")
        ),
    )
    return render(
        request,
        "rules.html",
        rules=rules,
        version=version,
        windows=list(windows.maintenance_windows) if windows is not None else [],
        windows_next=windows.next_page_token if windows is not None else "",
        notice=request.query_params.get("notice", ""),
    )


async def move(request: Request) -> Response:
    """ReorderRules with one rule swapped up or down (checked against the version shown)."""
    data = {k: v[-1] for k, v in (await form_lists(request)).items()}
    rules, _ = await _rules(request)
    order = moved([r.id for r in rules], request.path_params["rule_id"], data.get("direction", ""))
    await call(
        request,
        "rules",
        "ReorderRules",
        rules_api.ReorderRulesRequest(
            request_id=data.get("request_id", ""),
            rule_ids=order,
            expected_rule_set_version=int(data.get("version", "0") or 0),
        ),
    )
    return back_to("/rules", "Order saved")


async def _editor(
    request: Request,
    rule: rules_res.Rule,
    *,
    new: bool,
    errors: dict[str, str] | None = None,
    simulation: Any = None,
    days: int = 7,
    status: int = 200,
) -> Response:
    return render(
        request,
        "rule.html",
        status,
        rule=rule,
        new=new,
        errors=errors or {},
        simulation=simulation,
        days=days,
        day_choices=SIMULATE_DAYS,
        notice=request.query_params.get("notice", ""),
    )


async def rule_page(request: Request) -> Response:
    """The editor for one rule."""
    reply = await call(
        request,
        "rules",
        "GetRule",
        rules_api.GetRuleRequest(rule_id=request.path_params["rule_id"]),
    )
    return await _editor(request, reply.rule, new=False)


async def new_rule_page(request: Request) -> Response:
    """The editor for a new rule (opens tickets by default)."""
    rule = rules_res.Rule(
        actions=rules_res.Actions(ticket_action=rules_res.TICKET_ACTION_CREATE_TICKET)
    )
    return await _editor(request, rule, new=True)


async def _simulate(
    request: Request, edited: rules_res.Rule, *, days: int
) -> tuple[Any, dict[str, str]]:
    """SimulateRules over the last ``days`` with ``edited`` in place of its stored self."""
    rules, _ = await _rules(request)
    proposed = [edited if r.id == edited.id and edited.id else r for r in rules]
    if not edited.id:
        proposed.append(edited)
    end = datetime.now(UTC)
    start_ts, end_ts = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start_ts.FromDatetime(end - timedelta(days=days))
    end_ts.FromDatetime(end)
    try:
        reply = await call(
            request,
            "rules",
            "SimulateRules",
            rules_api.SimulateRulesRequest(
                proposed_rules=rules_api.ProposedRules(rules=proposed),
                start_time=start_ts,
                end_time=end_ts,
            ),
        )
    except ApiError as error:
        if error.code != "INVALID_ARGUMENT":
            raise
        return None, field_errors(error.fields) or {"_": error.message}
    return reply, {}


async def save(request: Request) -> Response:
    """Save the edited rule (Create or Update), or Simulate it without saving."""
    fields = await form_lists(request)
    one = {k: v[-1] for k, v in fields.items()}
    rule_id = request.path_params.get("rule_id", "")
    new = not rule_id
    base = None
    if not new:
        base = (
            await call(request, "rules", "GetRule", rules_api.GetRuleRequest(rule_id=rule_id))
        ).rule
    edited, paths = rule_from_form(fields, base=base)
    if base is not None:
        edited.etag = one.get("etag", base.etag)
    days = int(one.get("days", "7")) if one.get("days", "7").isdigit() else 7
    days = days if days in SIMULATE_DAYS else 7
    if one.get("intent") == "simulate":
        simulation, errors = await _simulate(request, edited, days=days)
        return await _editor(
            request,
            edited,
            new=new,
            errors=errors,
            simulation=simulation,
            days=days,
            status=400 if errors else 200,
        )
    try:
        if new:
            reply = await call(
                request,
                "rules",
                "CreateRule",
                rules_api.CreateRuleRequest(request_id=one.get("request_id", ""), rule=edited),
            )
        else:
            reply = await call(
                request,
                "rules",
                "UpdateRule",
                rules_api.UpdateRuleRequest(
                    request_id=one.get("request_id", ""),
                    rule=edited,
                    update_mask=field_mask_pb2.FieldMask(paths=paths),
                ),
            )
    except ApiError as error:
        if error.code != "INVALID_ARGUMENT":
            raise
        errors = field_errors(error.fields) or {"_": error.message}
        return await _editor(request, edited, new=new, errors=errors, days=days, status=400)
    return back_to(f"/rules/{reply.rule.id}", "Rule saved")


async def delete_rule(request: Request) -> Response:
    """DeleteRule (checked against the etag shown)."""
    data = {k: v[-1] for k, v in (await form_lists(request)).items()}
    await call(
        request,
        "rules",
        "DeleteRule",
        rules_api.DeleteRuleRequest(
            request_id=data.get("request_id", ""),
            rule_id=request.path_params["rule_id"],
            etag=data.get("etag", ""),
        ),
    )
    return back_to("/rules", "Rule deleted")


async def end_window(request: Request) -> Response:
    """EndMaintenanceWindow: end the current occurrence now (and every later one if asked)."""
    data = {k: v[-1] for k, v in (await form_lists(request)).items()}
    await call(
        request,
        "rules",
        "EndMaintenanceWindow",
        rules_api.EndMaintenanceWindowRequest(
            request_id=data.get("request_id", ""),
            window_id=request.path_params["window_id"],
            end_recurrence="end_recurrence" in data,
        ),
    )
    return back_to("/rules", "Window ended")


ROUTES = [
    page("/rules", rule_list),
    page("/rules/new", new_rule_page),
    action("/rules/new", save),
    page("/rules/{rule_id}", rule_page),
    action("/rules/{rule_id}", save),
    action("/rules/{rule_id}/move", move),
    action("/rules/{rule_id}/delete", delete_rule),
    action("/windows/{window_id}/end", end_window),
]
