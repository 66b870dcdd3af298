"""The runtime's request validation: well-formed time values, protovalidate rules, and how
violations are reported (paths, clipped text, a bounded number)."""

from __future__ import annotations

import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.runtime.errors import (
    MAX_VIOLATIONS,
    FieldViolation,
    InvalidArgument,
    clip,
)
from triage.runtime.grpc_errors import to_rpc_status
from triage.runtime.validation import check_request
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api


def violations_of(request: object) -> dict[str, str]:
    with pytest.raises(InvalidArgument) as caught:
        check_request(request)
    return {v.field: v.description for v in caught.value.violations}


def test_a_valid_request_passes() -> None:
    check_request(
        tickets_api.CreateTicketRequest(
            request_id="0193c1a2-1111-7000-8000-000000000001",
            ticket=tickets_pb.Ticket(title="Disk full", priority=tickets_pb.PRIORITY_P2),
        )
    )


def test_a_request_that_is_not_a_message_has_no_contract() -> None:
    check_request(b"raw bytes of a generic handler")


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(1, -1), (1, 1_000_000_000), (10**15, 0), (-(10**13), 0)],
)
def test_malformed_timestamps_are_violations(seconds: int, nanos: int) -> None:
    stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    found = violations_of(ingest_api.ListAlertEventsRequest(start_time=stamp))
    assert "valid timestamp" in found["start_time"]


@pytest.mark.parametrize(("seconds", "nanos"), [(1, -5), (-1, 5), (10**15, 0), (0, 10**9)])
def test_malformed_durations_are_violations(seconds: int, nanos: int) -> None:
    request = ingest_api.RotateIntegrationSecretRequest(
        overlap=duration_pb2.Duration(seconds=seconds, nanos=nanos)
    )
    assert "valid duration" in violations_of(request)["overlap"]


def test_time_values_in_lists_and_maps_are_checked_with_their_index() -> None:
    bad = ingest_pb.AlertEvent(occurred_time=timestamp_pb2.Timestamp(seconds=1, nanos=-1))
    request = ingest_api.IngestAlertsRequest(alerts=[ingest_pb.AlertEvent(), bad])
    assert set(violations_of(request)) == {"alerts[1].occurred_time"}


def test_contract_rules_name_the_field_with_its_path() -> None:
    rule = rules_pb.Rule(
        display_name="r",
        conditions=rules_pb.Conditions(providers=[1, 99], keywords=["ok", "bad\x00"]),  # type: ignore[list-item]
    )
    found = violations_of(rules_api.CreateRuleRequest(rule=rule))
    assert found["rule.conditions.providers[1]"] == "value must be one of the defined enum values"
    assert found["rule.conditions.keywords[1]"] == "must not contain NUL characters"


def test_a_huge_map_key_is_clipped_in_the_path() -> None:
    alert = ingest_pb.AlertEvent(labels={"k" * 100_000: "v"})
    found = violations_of(ingest_api.IngestAlertsRequest(alerts=[alert]))
    (path,) = found
    assert path.startswith("alerts[0].labels['kkk") and len(path) < 80


def test_many_violations_are_bounded_and_counted() -> None:
    rule = rules_pb.Rule(conditions=rules_pb.Conditions(keywords=["x\x00"] * 50))
    with pytest.raises(InvalidArgument) as caught:
        check_request(rules_api.CreateRuleRequest(rule=rule))
    assert len(caught.value.violations) == MAX_VIOLATIONS
    assert caught.value.message.startswith("50 invalid fields")


def test_clip_bounds_length_and_echoed_runs() -> None:
    assert clip("short") == "short"
    text = clip("name: cannot use " + repr("x" * 10_000))
    assert len(text) <= 128 and "x" * 65 not in text and text.endswith("…")
    assert len(clip("a " * 1_000)) == 128


def test_rpc_status_never_carries_a_huge_value() -> None:
    error = InvalidArgument(
        "bad " + "y" * 1_000_000,
        violations=[FieldViolation("f" * 10_000, "z" * 10_000)] * 1_000,
    )
    status = to_rpc_status(error)
    assert len(status.SerializeToString()) < 4_096
    assert "y" * 65 not in status.message
