"""``triage rules ...``: routing rules (and ``triage windows``, in :mod:`triage.cli.windows`)."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from google.protobuf import field_mask_pb2, json_format

from triage.cli import simulate, windows
from triage.cli.common import (
    CliContext,
    CliError,
    emit,
    enum_name,
    print_fields,
)
from triage.cli.rules_common import (
    call,
    enum_value,
    label_matchers,
    load_json,
    parse_into,
    parse_persistence,
    parse_when,
)
from triage.cli.sla import parse_shift
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api
from triage.runtime import to_timestamp

_SEVERITIES = ("info", "low", "medium", "high", "critical")


def _rule_from_flags(args: argparse.Namespace) -> tuple[pb.Rule, list[str]]:
    """The rule the flags describe and the field paths they set."""
    rule = pb.Rule()
    paths: list[str] = []
    if args.from_json:
        parse_into(load_json(args.from_json), rule)
        paths += [f.name for f, _ in rule.ListFields()]
    if args.name is not None:
        rule.display_name = args.name
        paths.append("display_name")
    if args.description is not None:
        rule.description = args.description
        paths.append("description")
    if args.disabled is not None:
        rule.disabled = args.disabled
        paths.append("disabled")
    c, a = rule.conditions, rule.actions
    repeated = (
        ("providers", args.provider, lambda v: enum_value(ingest_pb.Provider, "PROVIDER_", v)),
        ("integration_ids", args.integration, str),
        ("clients", args.client, str),
        ("sites", args.site, str),
        ("device_globs", args.device, str),
        ("kinds", args.kind, lambda v: enum_value(ingest_pb.AlertKind, "ALERT_KIND_", v)),
        ("conditions", args.condition, str),
        ("keywords", args.keyword, str),
    )
    for name, values, parse in repeated:
        if values:
            getattr(c, name).extend(parse(v) for v in values)
            paths.append(f"conditions.{name}")
    if args.label:
        c.label_matchers.extend(label_matchers(args.label))
        paths.append("conditions.label_matchers")
    if args.min_severity:
        c.min_severity = enum_value(ingest_pb.Severity, "SEVERITY_", args.min_severity)  # type: ignore[assignment]
        paths.append("conditions.min_severity")
    if args.message_regex is not None:
        c.message_regex = args.message_regex
        paths.append("conditions.message_regex")
    if args.during is not None:
        # "always" (or "") alone leaves time_conditions unset, which the mask then clears.
        ranges = [r for r in args.during if r.strip().lower() not in ("always", "")]
        c.SetInParent()
        c.time_conditions.ranges.extend(parse_shift(r) for r in ranges)
        paths.append("conditions.time_conditions")
    if args.during_zone is not None:
        c.time_conditions.time_zone = args.during_zone
        paths.append("conditions.time_conditions.time_zone")
    if args.ticket is not None:
        a.ticket_action = (
            pb.TICKET_ACTION_CREATE_TICKET if args.ticket else pb.TICKET_ACTION_RECORD_ONLY
        )
        paths.append("actions.ticket_action")
    simple = (
        ("priority_override", args.priority),
        ("queue", args.queue),
        ("assignee", args.assignee),
        ("title_template", args.title_template),
        ("description_template", args.description_template),
        ("close_on_reset", args.close_on_reset),
        ("reset_in_rmm_on_close", args.reset_in_rmm),
    )
    for name, value in simple:
        if value is not None:
            setattr(a, name, value)
            paths.append(f"actions.{name}")
    if args.notify:
        a.notification_channel_ids.extend(args.notify)
        paths.append("actions.notification_channel_ids")
    if args.continue_matching is not None:
        a.continue_matching = args.continue_matching
        paths.append("actions.continue_matching")
    if args.persistence is not None:
        persistence = parse_persistence(args.persistence)
        a.SetInParent()  # an update mask reaches into actions only when it is present
        if persistence is not None:
            a.persistence.CopyFrom(persistence)
        paths.append("actions.persistence")
    if "conditions.time_conditions" in paths:
        paths = [p for p in paths if p != "conditions.time_conditions.time_zone"]
    return rule, paths


def _rule_row(rule: pb.Rule) -> list[Any]:
    action = enum_name(pb.TicketAction, rule.actions.ticket_action, "TICKET_ACTION_")
    return [
        rule.position,
        rule.id,
        rule.display_name,
        "no" if rule.disabled else "yes",
        "unspecified" if action == "unspecified" else action,
        rule.actions.queue,
        rule.version,
    ]


_RULE_HEADERS = ["pos", "id", "name", "enabled", "ticket", "queue", "version"]


def _rules_create(ctx: CliContext, args: argparse.Namespace) -> int:
    rule, _ = _rule_from_flags(args)
    request = api.CreateRuleRequest(rule=rule, request_id=str(uuid.uuid4()))
    if args.position is not None:
        request.position = args.position
    print_fields(ctx, call(ctx, "CreateRule", request).rule)
    return 0


def _rules_list(ctx: CliContext, args: argparse.Namespace) -> int:
    rules: list[pb.Rule] = []
    token = ""
    version = 0
    while True:
        reply = call(
            ctx,
            "ListRules",
            api.ListRulesRequest(show_disabled=args.all, page_token=token, page_size=500),
        )
        rules.extend(reply.rules)
        version = reply.rule_set_version
        token = reply.next_page_token
        if not token:
            break
    data = {
        "rule_set_version": version,
        "rules": [json_format.MessageToDict(r, preserving_proto_field_name=True) for r in rules],
    }
    emit(ctx, data, rows=[_rule_row(r) for r in rules], headers=_RULE_HEADERS)
    if not ctx.json:
        print(f"rule-set version {version}")
    return 0


def _rules_show(ctx: CliContext, args: argparse.Namespace) -> int:
    print_fields(ctx, call(ctx, "GetRule", api.GetRuleRequest(rule_id=args.rule_id)).rule)
    return 0


def _rules_update(ctx: CliContext, args: argparse.Namespace) -> int:
    rule, paths = _rule_from_flags(args)
    if not paths:
        raise CliError("nothing to update: pass flags or --from-json", code=2)
    current = call(ctx, "GetRule", api.GetRuleRequest(rule_id=args.rule_id)).rule
    rule.id, rule.etag = current.id, current.etag
    request = api.UpdateRuleRequest(
        rule=rule,
        update_mask=field_mask_pb2.FieldMask(paths=sorted(set(paths))),
        request_id=str(uuid.uuid4()),
    )
    print_fields(ctx, call(ctx, "UpdateRule", request).rule)
    return 0


def _rules_delete(ctx: CliContext, args: argparse.Namespace) -> int:
    reply = call(
        ctx,
        "DeleteRule",
        api.DeleteRuleRequest(rule_id=args.rule_id, request_id=str(uuid.uuid4())),
    )
    emit(ctx, {"deleted": args.rule_id, "rule_set_version": reply.rule_set_version}, rows=None)
    return 0


def _rules_reorder(ctx: CliContext, args: argparse.Namespace) -> int:
    reply = call(
        ctx,
        "ReorderRules",
        api.ReorderRulesRequest(rule_ids=args.rule_ids, request_id=str(uuid.uuid4())),
    )
    emit(ctx, reply, rows=[_rule_row(r) for r in reply.rules], headers=_RULE_HEADERS)
    return 0


def _decision_rows(decision: pb.Decision) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for w in decision.window_explanations:
        rows.append([f"window {w.window_id}", "yes" if w.in_scope else "no", w.detail])
    for r in decision.rule_explanations:
        for c in r.conditions:
            rows.append([r.rule_display_name, "yes" if c.matched else "no", c.detail])
    return rows


def _rules_evaluate(ctx: CliContext, args: argparse.Namespace) -> int:
    request = api.EvaluateAlertRequest()
    if args.alert_id:
        request.alert_id = args.alert_id
    elif args.from_json:
        parse_into(load_json(args.from_json), request.alert)
    else:
        raise CliError("pass --alert-id or --from-json FILE (an AlertEvent)", code=2)
    if args.at:
        request.evaluate_time.CopyFrom(to_timestamp(parse_when(args.at)))
    decision = call(ctx, "EvaluateAlert", request).decision
    if not ctx.json:
        kind = enum_name(pb.DecisionKind, decision.kind, "DECISION_KIND_")
        print(
            f"{kind} at rule-set version {decision.rule_set_version}"
            f" rules={list(decision.rule_ids)} window={decision.window_id or '-'}"
            f" priority={decision.priority} title={decision.rendered_title!r}"
        )
    emit(ctx, decision, rows=_decision_rows(decision), headers=["who", "matched", "why"])
    return 0


def _rules_decision(ctx: CliContext, args: argparse.Namespace) -> int:
    reply = call(ctx, "GetAlertDecision", api.GetAlertDecisionRequest(alert_id=args.alert_id))
    if not ctx.json:
        d = reply.decision
        kind = enum_name(pb.DecisionKind, d.kind, "DECISION_KIND_")
        print(
            f"{kind} at rule-set version {d.rule_set_version} rules={list(d.rule_ids)}"
            f" window={d.window_id or '-'} ticket={'yes' if reply.create_ticket else 'no'}"
        )
        return 0
    emit(ctx, reply)
    return 0


def _rule_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-json", metavar="FILE", help="a full Rule as proto JSON")
    parser.add_argument("--name")
    parser.add_argument("--description")
    parser.add_argument("--disabled", action=argparse.BooleanOptionalAction, default=None)
    for flag, what in (
        ("--provider", "provider (ninjaone, datto, alertmanager, ...)"),
        ("--integration", "integration id"),
        ("--client", "client id or name"),
        ("--site", "site id or name"),
        ("--device", "device id/name glob"),
        ("--kind", "alert kind (trigger, reset, ...)"),
        ("--condition", "condition identity (globs allowed)"),
        ("--keyword", "keyword in summary or message"),
        ("--label", "label matcher name=value, !=, =~, !~"),
        ("--notify", "notify channel id"),
    ):
        parser.add_argument(flag, action="append", help=f"{what}; repeatable")
    parser.add_argument("--min-severity", choices=_SEVERITIES)
    parser.add_argument("--message-regex")
    parser.add_argument(
        "--during",
        action="append",
        metavar="'DAYS HH:MM-HH:MM'",
        help="match only alerts that occurred in these weekly hours, e.g. 'mon-fri 08:00-18:00'"
        " (repeat; 'always' clears)",
    )
    parser.add_argument("--during-zone", help="IANA zone of --during (default: the tenant's)")
    parser.add_argument(
        "--persistence",
        metavar="COUNT/SPAN",
        help="open a ticket only after COUNT triggers within SPAN, e.g. 3/10m ('off' clears)",
    )
    parser.add_argument(
        "--ticket",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--ticket opens tickets, --no-ticket records only",
    )
    parser.add_argument("--priority", type=int, choices=range(1, 6), help="priority override")
    parser.add_argument("--queue")
    parser.add_argument("--assignee")
    parser.add_argument("--title-template")
    parser.add_argument("--description-template")
    parser.add_argument("--close-on-reset", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--reset-in-rmm", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--continue", dest="continue_matching", action=argparse.BooleanOptionalAction, default=None
    )


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``rules`` and ``windows`` commands."""
    rules = subparsers.add_parser("rules", parents=parents, help="alert routing rules")
    sub = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    p = sub.add_parser("create", parents=parents, help="create a rule")
    _rule_flags(p)
    p.add_argument("--position", type=int, help="zero-based position (default: last)")
    p.set_defaults(handler=_rules_create)
    p = sub.add_parser("list", parents=parents, help="list rules in evaluation order")
    p.add_argument("--all", action="store_true", help="include disabled rules")
    p.set_defaults(handler=_rules_list)
    p = sub.add_parser("show", parents=parents, help="show a rule")
    p.add_argument("rule_id")
    p.set_defaults(handler=_rules_show)
    p = sub.add_parser("update", parents=parents, help="change the fields given")
    p.add_argument("rule_id")
    _rule_flags(p)
    p.set_defaults(handler=_rules_update)
    p = sub.add_parser("delete", parents=parents, help="delete a rule")
    p.add_argument("rule_id")
    p.set_defaults(handler=_rules_delete)
    p = sub.add_parser("reorder", parents=parents, help="set the complete order")
    p.add_argument("rule_ids", nargs="+")
    p.set_defaults(handler=_rules_reorder)
    p = sub.add_parser("evaluate", parents=parents, help="decide one alert (dry run)")
    p.add_argument("--alert-id")
    p.add_argument("--from-json", metavar="FILE", help="an AlertEvent as proto JSON")
    p.add_argument("--at", help="evaluate at this instant (ISO 8601)")
    p.set_defaults(handler=_rules_evaluate)
    p = sub.add_parser("decision", parents=parents, help="the decision logged for an alert")
    p.add_argument("alert_id")
    p.set_defaults(handler=_rules_decision)
    p = sub.add_parser("simulate", parents=parents, help="replay history through a proposal")
    simulate.add_flags(p)
    windows.register(subparsers, parents)
