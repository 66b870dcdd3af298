"""How a consumer batch is split into concurrent transactions."""

from __future__ import annotations

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.bus import partition
from triage.runtime.events import ReceivedEvent


def _batch(keys: list[str]) -> list[tuple[int, ReceivedEvent]]:
    return [
        (
            n,
            ReceivedEvent(
                envelope=Envelope(event_id=f"e{n}", tenant_id="t", ordering_key=key),
                subject="s",
                headers={},
                num_delivered=1,
            ),
        )
        for n, key in enumerate(keys)
    ]


def test_a_small_batch_stays_one_transaction() -> None:
    events = _batch([f"k{n}" for n in range(127)])
    assert partition(events, 4, 64) == [events]
    assert partition([], 4, 64) == []


def test_a_large_batch_splits_by_key_keeping_each_keys_order() -> None:
    keys = [f"k{n % 50}" for n in range(400)]
    groups = partition(_batch(keys), 4, 64)
    assert 2 <= len(groups) <= 4
    assert sorted(n for g in groups for n, _ in g) == list(range(400))
    owner: dict[str, int] = {}
    for index, group in enumerate(groups):
        positions = [n for n, _ in group]
        assert positions == sorted(positions)
        for _, event in group:
            assert owner.setdefault(event.envelope.ordering_key, index) == index


def test_events_without_a_key_spread_by_event_id() -> None:
    groups = partition(_batch([""] * 256), 4, 64)
    assert len(groups) == 4
