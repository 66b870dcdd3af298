"""``--at`` threshold actions of ``triage policies``: parsing and printing.

One ``--at`` names a percent of the target, optionally the clock it watches, and at most
one action; repeat it to give a threshold several actions (same percent and clock)::

    --at 75:notify=CHANNEL_ID[,CHANNEL_ID...]   notify channels (``default``: the tenant's
                                                default channels)
    --at 100:escalate=+1                        raise the priority by 1 to 4 levels
    --at 90:escalate=P1                         set the priority (only if more urgent)
    --at 90:reassign=queue:tier-2,assignee:bob  move the ticket
    --at 50@first_response                      a threshold without actions, first
                                                response clocks only
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from triage.cli.common import CliError
from triage.sla.v1 import resources_pb2 as pb
from triage.tickets.v1 import resources_pb2 as tickets_pb

SYNTAX = (
    "use PERCENT[@first_response|@resolution][:ACTION], ACTION one of notify=ID[,ID...] "
    "(or notify=default), escalate=+N, escalate=P1..P5, reassign=queue:Q[,assignee:A]"
)
KINDS = {
    "first_response": pb.SLA_TARGET_KIND_FIRST_RESPONSE,
    "first-response": pb.SLA_TARGET_KIND_FIRST_RESPONSE,
    "resolution": pb.SLA_TARGET_KIND_RESOLUTION,
}
DEFAULT_CHANNELS = "default"
_AT = re.compile(r"^(?P<percent>\d{1,3})(?:@(?P<kind>[a-z_\-]+))?(?::(?P<action>.*))?$")


def _bad(text: str, why: str) -> CliError:
    return CliError(f"bad --at {text!r}: {why}; {SYNTAX}", code=2)


def _notify(text: str, value: str) -> pb.ThresholdAction:
    ids = [part.strip() for part in value.split(",")]
    if not value.strip() or any(not part for part in ids):
        raise _bad(text, "notify needs channel ids or 'default'")
    action = pb.NotifyAction(channel_ids=[i for i in ids if i.lower() != DEFAULT_CHANNELS])
    action.default_channels = len(action.channel_ids) < len(ids)
    return pb.ThresholdAction(notify=action)


def _escalate(text: str, value: str) -> pb.ThresholdAction:
    value = value.strip()
    if re.fullmatch(r"\+[1-4]", value):
        return pb.ThresholdAction(escalate=pb.EscalateAction(raise_levels=int(value[1:])))
    if re.fullmatch(r"[pP][1-5]", value):
        priority = tickets_pb.Priority.ValueType(int(value[1]))
        return pb.ThresholdAction(escalate=pb.EscalateAction(priority=priority))
    raise _bad(text, "escalate takes +1 to +4 (levels) or P1 to P5 (a priority)")


def _reassign(text: str, value: str) -> pb.ThresholdAction:
    action = pb.ReassignAction()
    for part in value.split(","):
        field, sep, name = part.partition(":")
        field, name = field.strip().lower(), name.strip()
        if not sep or not name or field not in ("queue", "assignee"):
            raise _bad(text, "reassign takes queue:NAME and/or assignee:NAME")
        setattr(action, field, name)
    return pb.ThresholdAction(reassign=action)


_ACTIONS = {"notify": _notify, "escalate": _escalate, "reassign": _reassign}


def parse_at(text: str) -> tuple[int, tuple[int, ...], pb.ThresholdAction | None]:
    """One ``--at`` as (percent, target kinds, action or None)."""
    match = _AT.match(text.strip())
    if match is None:
        raise _bad(text, "not understood")
    percent = int(match["percent"])
    if not 1 <= percent <= 100:
        raise _bad(text, "the percent runs from 1 to 100")
    kinds: tuple[int, ...] = ()
    if match["kind"]:
        if match["kind"] not in KINDS:
            raise _bad(text, f"unknown clock {match['kind']!r}")
        kinds = (KINDS[match["kind"]],)
    if match["action"] is None:
        return percent, kinds, None
    name, sep, value = match["action"].partition("=")
    build = _ACTIONS.get(name.strip().lower())
    if build is None or not sep:
        raise _bad(text, f"unknown action {match['action']!r}")
    return percent, kinds, build(text, value)


def build_thresholds(at: Iterable[str], percents: Iterable[int] = ()) -> list[pb.Threshold]:
    """Thresholds from ``--at`` values and bare ``--threshold`` percents, in percent order.

    ``--at`` values with the same percent and clock become one threshold with their actions
    in the order given.
    """
    merged: dict[tuple[int, tuple[int, ...]], pb.Threshold] = {}
    for text in at:
        percent, kinds, action = parse_at(text)
        threshold = merged.setdefault(
            (percent, kinds),
            pb.Threshold(percent=percent, target_kinds=list(kinds)),  # type: ignore[arg-type]
        )
        if action is not None:
            threshold.actions.append(action)
    for percent in percents:
        if not any(p == percent for p, _ in merged):
            merged[(percent, ())] = pb.Threshold(percent=percent)
    return [merged[key] for key in sorted(merged)]


def _action_text(action: pb.ThresholdAction) -> str:
    which = action.WhichOneof("action")
    if which == "notify":
        ids = [*action.notify.channel_ids]
        if action.notify.default_channels:
            ids.append(DEFAULT_CHANNELS)
        return "notify=" + ",".join(ids)
    if which == "escalate":
        escalate = action.escalate
        if escalate.priority:
            return f"escalate=P{int(escalate.priority)}"
        return f"escalate=+{escalate.raise_levels}"
    if which == "reassign":
        reassign = action.reassign
        parts = [
            f"{f}:{v}" for f, v in (("queue", reassign.queue), ("assignee", reassign.assignee))
        ]
        return "reassign=" + ",".join(p for p in parts if not p.endswith(":"))
    return "?"


def thresholds_text(thresholds: Sequence[pb.Threshold]) -> str:
    """Thresholds in ``--at`` syntax, for tables: ``50 75 100:notify=default``."""
    names = {v: k for k, v in KINDS.items() if "-" not in k}
    words: list[str] = []
    for threshold in thresholds:
        head = str(threshold.percent)
        if len(threshold.target_kinds) == 1:
            head += "@" + names.get(threshold.target_kinds[0], "?")
        words.extend([f"{head}:{_action_text(a)}" for a in threshold.actions] or [head])
    return " ".join(words)
