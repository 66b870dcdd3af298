"""The alert batch's order: each series' alerts of a key in occurrence order, in the places
that series held (the order of keys, which the locks follow, unchanged)."""

from __future__ import annotations

from datetime import timedelta

from services.tickets.events import in_occurrence_order
from tests.integration.tickets.harness import T0, routed
from triage.events.v1.envelope_pb2 import Envelope
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.runtime.events import ReceivedEvent

RESET = ingest_pb.ALERT_KIND_RESET
TRIGGER = ingest_pb.ALERT_KIND_TRIGGER


def _alert(
    kind: int, minutes: int, *, device: str = "dev-1", series: str = "s1", sequence: int = 0
) -> ReceivedEvent:
    envelope = routed(
        "tenant-1",
        kind=kind,
        device=device,
        series=series,
        occurred=T0 + timedelta(minutes=minutes),
        sequence=sequence,
    )
    return ReceivedEvent(envelope=envelope, subject="", headers={}, num_delivered=1)


def _ids(events: list[ReceivedEvent]) -> list[str]:
    return [e.event_id for e in events]


def test_a_series_of_one_key_is_applied_in_occurrence_order() -> None:
    """A trigger at 2 arrived before the reset at 1 and the trigger at 3 after it: reset,
    trigger at 2, trigger at 3."""
    t2, r1, t3 = _alert(TRIGGER, 2), _alert(RESET, 1), _alert(TRIGGER, 3)
    assert _ids(in_occurrence_order([t2, r1, t3])) == _ids([r1, t2, t3])


def test_the_order_of_keys_is_kept() -> None:
    """Sorted by key (dev-1's before dev-2's), each key's series reordered in its own
    places: the key of each place is unchanged."""
    a2, a1 = _alert(TRIGGER, 2, device="dev-1"), _alert(RESET, 1, device="dev-1")
    b9, b5 = _alert(TRIGGER, 9, device="dev-2"), _alert(RESET, 5, device="dev-2")
    assert _ids(in_occurrence_order([a2, a1, b9, b5])) == _ids([a1, a2, b5, b9])


def test_a_series_split_over_two_keys_is_ordered_within_each_key_only() -> None:
    """A reset naming another device has another key: it keeps its place (the lock
    order), the series' alerts of each key are ordered among themselves."""
    t3, t2 = _alert(TRIGGER, 3), _alert(TRIGGER, 2)
    r1 = _alert(RESET, 1, device="elsewhere")
    assert _ids(in_occurrence_order([t3, t2, r1])) == _ids([t2, t3, r1])


def test_other_series_of_the_key_keep_their_places() -> None:
    """Two series of one key, interleaved: each is ordered in the places it held."""
    s1_t4, s2_t9 = _alert(TRIGGER, 4, series="s1"), _alert(TRIGGER, 9, series="s2")
    s1_r3, s2_r1 = _alert(RESET, 3, series="s1"), _alert(RESET, 1, series="s2")
    ordered = in_occurrence_order([s1_t4, s2_t9, s1_r3, s2_r1])
    assert _ids(ordered) == _ids([s1_r3, s2_r1, s1_t4, s2_t9])


def test_ties_are_broken_by_sequence_then_kept_in_stream_order() -> None:
    """At one instant the source's sequence orders them; without one, arrival does."""
    second, first = _alert(RESET, 1, sequence=2), _alert(TRIGGER, 1, sequence=1)
    assert _ids(in_occurrence_order([second, first])) == _ids([first, second])
    a, b = _alert(RESET, 1), _alert(TRIGGER, 1)
    assert _ids(in_occurrence_order([a, b])) == _ids([a, b])


def test_what_is_no_alert_keeps_its_place() -> None:
    """An event of another type, or one that does not decode, is not moved."""
    other = ReceivedEvent(
        envelope=Envelope(event_id="x", type="ticket.opened"),
        subject="",
        headers={},
        num_delivered=1,
    )
    broken = ReceivedEvent(
        envelope=Envelope(event_id="y", type="alert.routed"),
        subject="",
        headers={},
        num_delivered=1,
    )
    t2, r1 = _alert(TRIGGER, 2), _alert(RESET, 1)
    ordered = in_occurrence_order([t2, other, broken, r1])
    assert _ids(ordered) == _ids([r1, other, broken, t2])
