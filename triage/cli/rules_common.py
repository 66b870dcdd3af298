"""What ``triage rules`` and ``triage windows`` share: calls to the rules service and
the parsing of their flags (JSON files, times, enum words, label matchers)."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from triage.cli.common import CliContext, CliError, parse_duration
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1.rules_service_pb2_grpc import RulesServiceStub

_LABEL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(=~|!~|!=|=)(.*)$")
_OPS = {
    "=": pb.LABEL_MATCH_OP_EQUAL,
    "!=": pb.LABEL_MATCH_OP_NOT_EQUAL,
    "=~": pb.LABEL_MATCH_OP_REGEX,
    "!~": pb.LABEL_MATCH_OP_NOT_REGEX,
}


def call(ctx: CliContext, method: str, request: Any) -> Any:
    """Call ``method`` of the rules service."""
    return ctx.call("rules", RulesServiceStub, method, request)


def load_json(path: str) -> Any:
    """The JSON in file ``path`` (``-``: standard input); exit 2 if it cannot be read."""
    try:
        return json.loads(sys.stdin.read() if path == "-" else Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read JSON from {path}: {exc}", code=2) from exc


def parse_into(data: Any, message: Any) -> Any:
    """``data`` (proto JSON) parsed into ``message``; exit 2 if it does not fit."""
    try:
        return json_format.ParseDict(data, message)
    except json_format.ParseError as exc:
        raise CliError(f"bad JSON for {message.DESCRIPTOR.name}: {exc}", code=2) from exc


def parse_when(text: str) -> datetime:
    """An aware datetime from ISO 8601 (UTC when it names no zone)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"bad time {text!r}: use ISO 8601, e.g. 2025-06-01T22:00:00Z", 2) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def enum_value(enum: Any, prefix: str, word: str) -> int:
    """The value of enum word ``word`` (``high`` -> ``PREFIX_HIGH``); exit 2 if unknown."""
    try:
        return int(enum.Value(prefix + word.upper().replace("-", "_")))
    except ValueError as exc:
        raise CliError(f"unknown value {word!r}", code=2) from exc


def label_matchers(items: list[str]) -> list[pb.LabelMatcher]:
    """Label matchers from ``name=value`` (or ``!=``, ``=~``, ``!~``) items."""
    matchers = []
    for item in items:
        match = _LABEL.match(item)
        if match is None:
            raise CliError(f"bad label matcher {item!r}: use name=value, !=, =~ or !~", code=2)
        matchers.append(pb.LabelMatcher(name=match[1], op=_OPS[match[2]], value=match[3]))
    return matchers


def parse_persistence(text: str) -> pb.Persistence | None:
    """``3/10m``: open a ticket only after 3 triggers within 10 minutes (``off``: None, a
    ticket at the first trigger)."""
    if text.strip().lower() in ("off", "none", ""):
        return None
    count, sep, within = text.partition("/")
    try:
        number = int(count)
    except ValueError:
        number = 0
    if not sep or number < 1:
        raise CliError(f"bad persistence {text!r}: use COUNT/SPAN, e.g. 3/10m, or off", code=2)
    return pb.Persistence(count=number, within=parse_duration(within))
