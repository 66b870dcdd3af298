"""``triage rules simulate``: replay a range of history through proposed rules, in chunks.

A long range is replayed as consecutive time chunks, one SimulateRules call each, with
progress on stderr; the counts add up because the simulation decides each alert on its
own (it does not model de-duplication into open tickets, see SimulationCounts).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from triage.cli.common import CliContext, CliError, emit, parse_duration
from triage.cli.progress import progress
from triage.cli.rules_common import call, load_json, parse_into, parse_when
from triage.rules.v1 import rules_service_pb2 as api
from triage.runtime import to_timestamp

#: A range is cut into at most this many chunks unless --chunk says otherwise.
MAX_AUTO_CHUNKS = 100
MIN_AUTO_CHUNK = timedelta(days=1)


def chunks(
    start: datetime, end: datetime, size: timedelta | None
) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into consecutive spans of ``size`` (None: at least a day, at
    most :data:`MAX_AUTO_CHUNKS` spans); the last one ends at ``end``."""
    if end <= start:
        raise CliError("--end must be after --start", code=2)
    if size is None:
        size = max(MIN_AUTO_CHUNK, (end - start) / MAX_AUTO_CHUNKS)
    if size <= timedelta(0):
        raise CliError("--chunk must be positive", code=2)
    spans: list[tuple[datetime, datetime]] = []
    at = start
    while at < end:
        spans.append((at, min(at + size, end)))
        at += size
    return spans


def _add(total: api.SimulationCounts, part: api.SimulationCounts) -> None:
    for field, value in part.ListFields():  # only what is set, so no empty message appears
        setattr(total, field.name, getattr(total, field.name) + value)


def merge(replies: Iterable[api.SimulateRulesResponse]) -> api.SimulateRulesResponse:
    """One reply for the whole range: rows matched by id (new ones by name and index) in
    first-seen order, every count summed, truncated if any chunk was."""
    merged = api.SimulateRulesResponse()
    rules: dict[tuple[str, str, int], api.RuleSimulation] = {}
    windows: dict[tuple[str, str], api.WindowSimulation] = {}
    for reply in replies:
        for r in reply.rules:
            key = (r.rule_id, "" if r.rule_id else r.display_name, r.proposed_index)
            if key not in rules:
                rules[key] = merged.rules.add(
                    rule_id=r.rule_id, display_name=r.display_name, proposed_index=r.proposed_index
                )
            _add(rules[key].proposed, r.proposed)
            _add(rules[key].current, r.current)
        for w in reply.windows:
            wkey = (w.window_id, "" if w.window_id else w.display_name)
            if wkey not in windows:
                windows[wkey] = merged.windows.add(
                    window_id=w.window_id, display_name=w.display_name
                )
            windows[wkey].proposed_suppressed += w.proposed_suppressed
            windows[wkey].current_suppressed += w.current_suppressed
        _add(merged.proposed_total, reply.proposed_total)
        _add(merged.current_total, reply.current_total)
        merged.alerts_evaluated += reply.alerts_evaluated
        merged.truncated = merged.truncated or reply.truncated
        merged.rule_set_version = max(merged.rule_set_version, reply.rule_set_version)
    return merged


def _request(args: argparse.Namespace) -> api.SimulateRulesRequest:
    request = api.SimulateRulesRequest()
    if args.rules_json:
        data = load_json(args.rules_json)
        parse_into({"rules": data} if isinstance(data, list) else data, request.proposed_rules)
    if args.windows_json:
        data = load_json(args.windows_json)
        wrapped = {"maintenance_windows": data} if isinstance(data, list) else data
        parse_into(wrapped, request.proposed_windows)
    return request


def simulate(ctx: CliContext, args: argparse.Namespace) -> int:
    """Replay ``[--start, --end)`` chunk by chunk and print the summed comparison."""
    if args.max_alerts < 0:
        raise CliError("--max-alerts must be 0 (the server's cap per chunk) or more", code=2)
    start = parse_when(args.start)
    end = parse_when(args.end) if args.end else datetime.now(UTC)
    size = parse_duration(args.chunk).ToTimedelta() if args.chunk else None
    spans = chunks(start, end, size)
    template = _request(args)
    replies: list[api.SimulateRulesResponse] = []
    left = args.max_alerts
    with progress(ctx, "simulate", total=len(spans), unit="chunks") as bar:
        for chunk_start, chunk_end in spans:
            request = api.SimulateRulesRequest()
            request.CopyFrom(template)
            request.start_time.CopyFrom(to_timestamp(chunk_start))
            request.end_time.CopyFrom(to_timestamp(chunk_end))
            request.max_alerts = left
            reply = call(ctx, "SimulateRules", request)
            replies.append(reply)
            evaluated = sum(r.alerts_evaluated for r in replies)
            bar.advance(note=f"to {chunk_end:%Y-%m-%d %H:%M}Z, {evaluated} alerts")
            if args.max_alerts:
                left = args.max_alerts - evaluated
                if left <= 0 or reply.truncated:
                    reply.truncated = reply.truncated or chunk_end < end
                    break
    _print(ctx, merge(replies))
    return 0


def _counts(c: api.SimulationCounts) -> str:
    return f"{c.matched}/{c.tickets_opened}/{c.recorded}/{c.suppressed}/{c.unmatched}"


def _print(ctx: CliContext, reply: api.SimulateRulesResponse) -> None:
    rows: list[list[Any]] = [
        [
            r.rule_id or "(new)",
            r.display_name,
            r.proposed_index,
            _counts(r.proposed),
            _counts(r.current),
        ]
        for r in reply.rules
    ]
    rows += [
        [
            w.window_id or "(new)",
            f"window {w.display_name}",
            "",
            w.proposed_suppressed,
            w.current_suppressed,
        ]
        for w in reply.windows
    ]
    rows.append(["", "total", "", _counts(reply.proposed_total), _counts(reply.current_total)])
    emit(ctx, reply, rows=rows, headers=["id", "name", "index", "proposed", "current"])
    if not ctx.json:
        print(
            f"{reply.alerts_evaluated} alerts{' (truncated)' if reply.truncated else ''};"
            " counts are matched/tickets/recorded/suppressed/unmatched"
        )


def add_flags(p: argparse.ArgumentParser) -> None:
    """The flags of ``rules simulate``."""
    p.add_argument("--rules-json", metavar="FILE", help="proposed rules (a list of Rule)")
    p.add_argument("--windows-json", metavar="FILE", help="proposed windows (a list)")
    p.add_argument("--start", required=True, help="start of the range (ISO 8601)")
    p.add_argument("--end", help="end of the range (default: now)")
    p.add_argument(
        "--max-alerts",
        type=int,
        default=0,
        help="stop after this many alerts in all (default: no cap but the server's per chunk)",
    )
    p.add_argument(
        "--chunk",
        help="replay this much history per call, e.g. 6h or 7d (default: at least 1d, at most"
        f" {MAX_AUTO_CHUNKS} calls); progress is shown per chunk",
    )
    p.set_defaults(handler=simulate)
