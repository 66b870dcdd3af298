"""A partition reader's JetStream filters."""

from __future__ import annotations

from triage.runtime.partition_filters import filter_config, reader_filters


def test_some_partitions_filter_each_partition_token() -> None:
    """A reader of some partitions names each one after the tenant token."""
    filters = reader_filters(["triage.alert.routed.>", "triage.tenant.changed.t1"], [3, 1], 16)
    assert filters == [
        "triage.alert.routed.*.1",
        "triage.alert.routed.*.3",
        "triage.tenant.changed.t1.1",
        "triage.tenant.changed.t1.3",
    ]


def test_every_partition_reads_by_the_patterns_alone() -> None:
    """Holding every partition, a reader asks for the patterns themselves, one filter each."""
    assert reader_filters(["triage.alert.routed.>"], range(16), 16) == ["triage.alert.routed.>"]
    assert reader_filters(["triage.tenant.changed.t1"], range(4), 4) == [
        "triage.tenant.changed.t1.*"
    ]


def test_one_filter_is_sent_as_filter_subject() -> None:
    """One filter goes as ``filter_subject``, several as ``filter_subjects``."""
    assert filter_config(["a.>"]) == {"filter_subject": "a.>"}
    assert filter_config(["a.*.1", "a.*.2"]) == {"filter_subjects": ["a.*.1", "a.*.2"]}
