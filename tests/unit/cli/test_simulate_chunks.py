"""``rules simulate`` in chunks: how a range is cut and how the chunks' answers add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.cli.common import CliError
from triage.cli.simulate import MAX_AUTO_CHUNKS, chunks, merge
from triage.rules.v1 import rules_service_pb2 as api

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_chunks_cover_the_range_end_to_end() -> None:
    spans = chunks(T0, T0 + timedelta(hours=30), timedelta(hours=12))
    assert spans == [
        (T0, T0 + timedelta(hours=12)),
        (T0 + timedelta(hours=12), T0 + timedelta(hours=24)),
        (T0 + timedelta(hours=24), T0 + timedelta(hours=30)),
    ]


def test_automatic_chunks_are_at_least_a_day_and_at_most_the_cap() -> None:
    assert chunks(T0, T0 + timedelta(hours=5), None) == [(T0, T0 + timedelta(hours=5))]
    assert len(chunks(T0, T0 + timedelta(days=10), None)) == 10
    years = chunks(T0, T0 + timedelta(days=3 * 365), None)
    assert len(years) == MAX_AUTO_CHUNKS
    assert years[-1][1] == T0 + timedelta(days=3 * 365)


def test_an_empty_range_or_chunk_is_bad_input() -> None:
    with pytest.raises(CliError) as caught:
        chunks(T0, T0, None)
    assert caught.value.code == 2
    with pytest.raises(CliError):
        chunks(T0, T0 + timedelta(days=1), timedelta(0))


def _counts(n: int) -> api.SimulationCounts:
    return api.SimulationCounts(matched=n, tickets_opened=n, recorded=0, suppressed=1, unmatched=2)


def test_merge_sums_rows_by_id_and_new_rules_by_name_and_index() -> None:
    first = api.SimulateRulesResponse(
        rules=[
            api.RuleSimulation(rule_id="r1", display_name="disk", proposed=_counts(1)),
            api.RuleSimulation(display_name="cpu", proposed_index=1, proposed=_counts(2)),
        ],
        windows=[api.WindowSimulation(display_name="patch", proposed_suppressed=3)],
        proposed_total=_counts(3),
        current_total=_counts(1),
        alerts_evaluated=10,
        rule_set_version=4,
    )
    second = api.SimulateRulesResponse(
        rules=[
            api.RuleSimulation(display_name="cpu", proposed_index=1, proposed=_counts(5)),
            api.RuleSimulation(rule_id="r1", display_name="disk (renamed)", current=_counts(7)),
        ],
        windows=[api.WindowSimulation(display_name="patch", proposed_suppressed=1)],
        proposed_total=_counts(5),
        current_total=_counts(7),
        alerts_evaluated=12,
        truncated=True,
        rule_set_version=5,
    )
    merged = merge([first, second])
    assert [(r.rule_id, r.display_name) for r in merged.rules] == [("r1", "disk"), ("", "cpu")]
    assert merged.rules[0].proposed.matched == 1 and merged.rules[0].current.matched == 7
    assert merged.rules[1].proposed.matched == 7 and merged.rules[1].proposed.suppressed == 2
    assert [(w.display_name, w.proposed_suppressed) for w in merged.windows] == [("patch", 4)]
    assert merged.proposed_total.matched == 8 and merged.proposed_total.unmatched == 4
    assert merged.current_total.matched == 8
    assert merged.alerts_evaluated == 22
    assert merged.truncated is True
    assert merged.rule_set_version == 5


def test_merge_of_one_answer_is_that_answer() -> None:
    only = api.SimulateRulesResponse(
        rules=[api.RuleSimulation(rule_id="r1", display_name="disk", proposed=_counts(1))],
        proposed_total=_counts(1),
        current_total=_counts(1),
        alerts_evaluated=3,
        rule_set_version=2,
    )
    merged = merge([only])
    assert merged == only
