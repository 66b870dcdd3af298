"""``triage policies --at``: every action type of the proto, merging, and clear errors."""

from __future__ import annotations

import pytest

from triage.cli.common import CliError
from triage.cli.main import main
from triage.cli.sla_thresholds import build_thresholds, parse_at, thresholds_text
from triage.sla.v1 import resources_pb2 as pb
from triage.tickets.v1 import resources_pb2 as tickets_pb

CH1 = "0190f5a4-0000-7000-8000-000000000001"
CH2 = "0190f5a4-0000-7000-8000-000000000002"


def test_notify_takes_channel_ids_and_default() -> None:
    assert parse_at(f"75:notify={CH1},{CH2}") == (
        75,
        (),
        pb.ThresholdAction(notify=pb.NotifyAction(channel_ids=[CH1, CH2])),
    )
    _, _, default = parse_at(f"100:notify=default,{CH1}")
    assert default == pb.ThresholdAction(
        notify=pb.NotifyAction(channel_ids=[CH1], default_channels=True)
    )


def test_escalate_by_levels_or_to_a_priority() -> None:
    assert parse_at("100:escalate=+1")[2] == pb.ThresholdAction(
        escalate=pb.EscalateAction(raise_levels=1)
    )
    assert parse_at("90:escalate=p1")[2] == pb.ThresholdAction(
        escalate=pb.EscalateAction(priority=tickets_pb.PRIORITY_P1)
    )


def test_reassign_to_a_queue_and_an_assignee_for_one_clock() -> None:
    percent, kinds, action = parse_at("90@resolution:reassign=queue:tier-2,assignee:bob")
    assert (percent, kinds) == (90, (pb.SLA_TARGET_KIND_RESOLUTION,))
    assert action == pb.ThresholdAction(reassign=pb.ReassignAction(queue="tier-2", assignee="bob"))
    assert parse_at("50@first_response") == (50, (pb.SLA_TARGET_KIND_FIRST_RESPONSE,), None)


def test_same_percent_and_clock_merge_into_one_threshold_in_percent_order() -> None:
    thresholds = build_thresholds(
        ["100:notify=default", "75:notify=" + CH1, "100:escalate=+2"], [50, 75]
    )
    assert [t.percent for t in thresholds] == [50, 75, 100]
    assert [len(t.actions) for t in thresholds] == [0, 1, 2]
    assert thresholds_text(thresholds) == (f"50 75:notify={CH1} 100:notify=default 100:escalate=+2")
    text = thresholds_text(build_thresholds(["90@resolution:reassign=queue:t2"]))
    assert text == "90@resolution:reassign=queue:t2"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("75", None),
        ("0:notify=x", "1 to 100"),
        ("101:escalate=+1", "1 to 100"),
        ("seventy:notify=x", "not understood"),
        ("75:notify=", "channel ids"),
        ("75:notify=a,,b", "channel ids"),
        ("100:escalate=+9", "escalate takes"),
        ("100:escalate=P7", "escalate takes"),
        ("100:escalate", "unknown action"),
        ("100:page=oncall", "unknown action"),
        ("90:reassign=team:x", "reassign takes"),
        ("90@breach:notify=x", "unknown clock"),
    ],
)
def test_bad_syntax_is_a_usage_error_naming_the_syntax(text: str, why: str | None) -> None:
    if why is None:
        assert parse_at(text) == (75, (), None)
        return
    with pytest.raises(CliError) as caught:
        parse_at(text)
    assert caught.value.code == 2
    assert why in str(caught.value) and "PERCENT" in str(caught.value)


def test_the_command_exits_2_with_a_message_before_calling_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--token", "t", "--sla-addr", "127.0.0.1:9", "policies", "create"]
    argv += ["--name", "x", "--scope", "default", "--at", "100:escalate=up"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "bad --at '100:escalate=up'" in err and "Traceback" not in err
