"""``triage correlation-rules ...``: rules that group alerts of many devices into incidents."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from google.protobuf import field_mask_pb2, json_format

from triage.cli.common import CliContext, CliError, emit, parse_duration, print_fields
from triage.cli.rules_common import (
    call,
    enum_value,
    label_matchers,
    load_json,
    parse_into,
    parse_when,
)
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import correlation_pb2 as pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.runtime import to_timestamp

_RULES = "triage.rules.v1.RulesService."
#: Which RPCs each command calls (merged into the CLI-completeness table).
RPCS: dict[str, tuple[str, ...]] = {
    "correlation-rules create": (_RULES + "CreateCorrelationRule",),
    "correlation-rules list": (_RULES + "ListCorrelationRules",),
    "correlation-rules show": (_RULES + "GetCorrelationRule",),
    "correlation-rules update": (_RULES + "UpdateCorrelationRule", _RULES + "GetCorrelationRule"),
    "correlation-rules delete": (_RULES + "DeleteCorrelationRule", _RULES + "GetCorrelationRule"),
    "correlation-rules move": (_RULES + "ReorderCorrelationRules", _RULES + "ListCorrelationRules"),
    "correlation-rules simulate": (_RULES + "SimulateCorrelation",),
}
_HEADERS = ["pos", "id", "name", "enabled", "group by", "window", "primary", "version"]


def _filter_into(c: rules_pb.Conditions, args: argparse.Namespace, prefix: str) -> bool:
    """Fill ``c`` from the ``--<prefix>...`` flags; whether any was given."""
    given = False
    repeated = (
        ("providers", "provider", lambda v: enum_value(ingest_pb.Provider, "PROVIDER_", v)),
        ("integration_ids", "integration", str),
        ("clients", "client", str),
        ("sites", "site", str),
        ("device_globs", "device", str),
        ("conditions", "condition", str),
    )
    for name, flag, parse in repeated:
        values = getattr(args, prefix + flag)
        if values:
            getattr(c, name).extend(parse(v) for v in values)
            given = True
    labels = getattr(args, prefix + "label")
    if labels:
        c.label_matchers.extend(label_matchers(labels))
        given = True
    return given


def _rule_from_flags(args: argparse.Namespace) -> tuple[pb.CorrelationRule, list[str]]:
    """The rule the flags describe and the field paths they set."""
    rule = pb.CorrelationRule()
    paths: list[str] = []
    if args.from_json:
        parse_into(load_json(args.from_json), rule)
        paths += [f.name for f, _ in rule.ListFields()]
    for name, value in (
        ("display_name", args.name),
        ("description", args.description),
        ("disabled", args.disabled),
    ):
        if value is not None:
            setattr(rule, name, value)
            paths.append(name)
    if _filter_into(rule.conditions, args, ""):
        paths.append("conditions")
    if args.group_by:
        rule.group_by.extend(f.strip() for g in args.group_by for f in g.split("+"))
        paths.append("group_by")
    if args.window is not None:
        rule.window.CopyFrom(parse_duration(args.window))
        paths.append("window")
    if _filter_into(rule.primary_conditions, args, "primary_"):
        paths.append("primary_conditions")
    elif args.no_primary:
        rule.ClearField("primary_conditions")
        paths.append("primary_conditions")
    return rule, paths


def _row(rule: pb.CorrelationRule) -> list[Any]:
    return [
        rule.position,
        rule.id,
        rule.display_name,
        "no" if rule.disabled else "yes",
        " + ".join(rule.group_by),
        f"{rule.window.seconds}s",
        "yes" if rule.HasField("primary_conditions") else "no",
        rule.version,
    ]


def _all(ctx: CliContext, show_disabled: bool) -> tuple[list[pb.CorrelationRule], int]:
    rules: list[pb.CorrelationRule] = []
    token = ""
    while True:
        reply = call(
            ctx,
            "ListCorrelationRules",
            pb.ListCorrelationRulesRequest(
                show_disabled=show_disabled, page_token=token, page_size=500
            ),
        )
        rules.extend(reply.correlation_rules)
        token = reply.next_page_token
        if not token:
            return rules, int(reply.rule_set_version)


def _create(ctx: CliContext, args: argparse.Namespace) -> int:
    rule, _ = _rule_from_flags(args)
    request = pb.CreateCorrelationRuleRequest(correlation_rule=rule, request_id=str(uuid.uuid4()))
    if args.position is not None:
        request.position = args.position
    print_fields(ctx, call(ctx, "CreateCorrelationRule", request).correlation_rule)
    return 0


def _list(ctx: CliContext, args: argparse.Namespace) -> int:
    rules, version = _all(ctx, args.all)
    data = {
        "rule_set_version": version,
        "correlation_rules": [
            json_format.MessageToDict(r, preserving_proto_field_name=True) for r in rules
        ],
    }
    emit(ctx, data, rows=[_row(r) for r in rules], headers=_HEADERS)
    return 0


def _get(ctx: CliContext, rule_id: str) -> pb.CorrelationRule:
    request = pb.GetCorrelationRuleRequest(correlation_rule_id=rule_id)
    rule: pb.CorrelationRule = call(ctx, "GetCorrelationRule", request).correlation_rule
    return rule


def _show(ctx: CliContext, args: argparse.Namespace) -> int:
    print_fields(ctx, _get(ctx, args.rule_id))
    return 0


def _update(ctx: CliContext, args: argparse.Namespace) -> int:
    rule, paths = _rule_from_flags(args)
    if not paths:
        raise CliError("nothing to update: pass flags or --from-json", code=2)
    current = _get(ctx, args.rule_id)
    rule.id, rule.etag = current.id, current.etag
    request = pb.UpdateCorrelationRuleRequest(
        correlation_rule=rule,
        update_mask=field_mask_pb2.FieldMask(paths=sorted(set(paths))),
        request_id=str(uuid.uuid4()),
    )
    print_fields(ctx, call(ctx, "UpdateCorrelationRule", request).correlation_rule)
    return 0


def _delete(ctx: CliContext, args: argparse.Namespace) -> int:
    current = _get(ctx, args.rule_id)
    request = pb.DeleteCorrelationRuleRequest(
        correlation_rule_id=current.id, etag=current.etag, request_id=str(uuid.uuid4())
    )
    reply = call(ctx, "DeleteCorrelationRule", request)
    emit(ctx, {"deleted": current.id, "rule_set_version": reply.rule_set_version}, rows=None)
    return 0


def _move(ctx: CliContext, args: argparse.Namespace) -> int:
    rules, version = _all(ctx, True)
    ids = [r.id for r in rules]
    if args.rule_id not in ids:
        raise CliError(f"no correlation rule {args.rule_id}", code=2)
    ids.remove(args.rule_id)
    ids.insert(max(0, min(args.to, len(ids))), args.rule_id)
    request = pb.ReorderCorrelationRulesRequest(
        correlation_rule_ids=ids, expected_rule_set_version=version, request_id=str(uuid.uuid4())
    )
    reply = call(ctx, "ReorderCorrelationRules", request)
    emit(ctx, reply, rows=[_row(r) for r in reply.correlation_rules], headers=_HEADERS)
    return 0


def _simulate(ctx: CliContext, args: argparse.Namespace) -> int:
    request = pb.SimulateCorrelationRequest(
        max_alerts=args.max_alerts, max_incidents=args.max_incidents
    )
    request.start_time.CopyFrom(to_timestamp(parse_when(args.start)))
    if args.end:
        request.end_time.CopyFrom(to_timestamp(parse_when(args.end)))
    if args.rules_json:
        data = load_json(args.rules_json)
        wrapped = {"correlation_rules": data} if isinstance(data, list) else data
        parse_into(wrapped, request.proposed)
    reply = call(ctx, "SimulateCorrelation", request)
    rows = [
        [
            i.start_time.ToJsonString(),
            i.rule_name,
            ", ".join(f"{v.field}={v.value}" for v in i.group_values),
            i.members,
            i.series,
            i.tickets_merged,
            i.primary_alert_id or "-",
        ]
        for i in reply.incidents
    ]
    headers = ["start", "rule", "group", "members", "series", "tickets merged", "primary"]
    emit(ctx, reply, rows=rows, headers=headers)
    if not ctx.json:
        print(
            f"{reply.alerts_evaluated} alerts{' (truncated)' if reply.truncated else ''},"
            f" {reply.correlated_alerts} correlated into {reply.incident_count} incidents;"
            f" tickets {reply.tickets_without_correlation} ->"
            f" {reply.tickets_with_correlation} (saves {reply.tickets_saved})"
        )
    return 0


def _filter_flags(parser: argparse.ArgumentParser, prefix: str, what: str) -> None:
    for flag, help_text in (
        ("provider", "provider (ninjaone, datto, ...)"),
        ("integration", "integration id"),
        ("client", "client id or name"),
        ("site", "site id or name"),
        ("device", "device id/name glob"),
        ("condition", "condition identity (globs allowed)"),
        ("label", "label matcher name=value, !=, =~, !~"),
    ):
        parser.add_argument(
            f"--{prefix}{flag}".replace("_", "-"),
            dest=f"{prefix}{flag}",
            action="append",
            help=f"{what}: {help_text}; repeatable",
        )


def _rule_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-json", metavar="FILE", help="a full CorrelationRule as JSON")
    parser.add_argument("--name")
    parser.add_argument("--description")
    parser.add_argument("--disabled", action=argparse.BooleanOptionalAction, default=None)
    _filter_flags(parser, "", "filter")
    parser.add_argument(
        "--group-by",
        action="append",
        help="group key fields, e.g. client_id+site_id or labels.rack; repeatable",
    )
    parser.add_argument("--window", help="incident window, 1m..24h (e.g. 10m)")
    _filter_flags(parser, "primary_", "primary filter")
    parser.add_argument("--no-primary", action="store_true", help="remove the primary filter")


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add the ``correlation-rules`` commands."""
    top = subparsers.add_parser(
        "correlation-rules", parents=parents, help="group alerts of many devices into incidents"
    )
    sub = top.add_subparsers(dest="correlation_command", metavar="ACTION", required=True)
    p = sub.add_parser("create", parents=parents, help="create a correlation rule")
    _rule_flags(p)
    p.add_argument("--position", type=int, help="zero-based position (default: last)")
    p.set_defaults(handler=_create)
    p = sub.add_parser("list", parents=parents, help="list correlation rules in order")
    p.add_argument("--all", action="store_true", help="include disabled rules")
    p.set_defaults(handler=_list)
    p = sub.add_parser("show", parents=parents, help="show a correlation rule")
    p.add_argument("rule_id")
    p.set_defaults(handler=_show)
    p = sub.add_parser("update", parents=parents, help="change the fields given")
    p.add_argument("rule_id")
    _rule_flags(p)
    p.set_defaults(handler=_update)
    p = sub.add_parser("delete", parents=parents, help="delete a correlation rule")
    p.add_argument("rule_id")
    p.set_defaults(handler=_delete)
    p = sub.add_parser("move", parents=parents, help="move a rule to a zero-based position")
    p.add_argument("rule_id")
    p.add_argument("--to", type=int, required=True, help="zero-based position")
    p.set_defaults(handler=_move)
    p = sub.add_parser("simulate", parents=parents, help="incidents history would have formed")
    p.add_argument("--rules-json", metavar="FILE", help="proposed rules (a list); default: current")
    p.add_argument("--start", required=True, help="start of the range (ISO 8601)")
    p.add_argument("--end", help="end of the range (default: now)")
    p.add_argument("--max-alerts", type=int, default=0)
    p.add_argument("--max-incidents", type=int, default=0)
    p.set_defaults(handler=_simulate)
