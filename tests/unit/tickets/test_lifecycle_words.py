"""The arrival-order tests' reading of lifecycle words (``O`` opened, ``C`` closed, ``R``
reopened) and of late alerts: the pinned gaps rely on it."""

from __future__ import annotations

from tests.integration.tickets.lifecycles import Gap, late_kinds, pair_gap, pairs


def test_a_gap_is_counted_in_whole_close_and_reopen_pairs() -> None:
    """Fewer pairs are positive, more negative; any other difference is not a gap."""
    assert pair_gap("OCRC", "OC") == 1
    assert pair_gap("OCRCR", "O") == 2
    assert pair_gap("OC", "OCRC") == -1
    assert pair_gap("OCR", "OC") is None  # ends open in one, closed in the other
    assert pair_gap("OCC", "OC") is None  # a close twice is never well formed
    assert pair_gap("OC", "") is None  # a ticket never announced


def test_late_kinds_tell_a_late_trigger_from_a_late_reset() -> None:
    """T1 R2 T3 arriving T3, R2, T1: T1 after the reset that followed it, R2 after the
    trigger that followed it; in order, neither."""
    assert late_kinds("TRT", (2, 1, 0)) == (True, True)
    assert late_kinds("TRT", (0, 2, 1)) == (False, True)
    assert late_kinds("TRT", (1, 0, 2)) == (True, False)
    assert late_kinds("TRT", (0, 1, 2)) == (False, False)


def test_only_pairs_in_their_situation_are_explained() -> None:
    """Pairs fewer need a late trigger, pairs more a late reset."""
    assert Gap("TRT", (1, 0, 2), "OCR", "O", 1).explained
    assert not Gap("TRT", (0, 2, 1), "OCR", "O", 1).explained
    assert Gap("TRT", (0, 2, 1), "OC", "OCRC", -1).explained
    assert not Gap("TRT", (1, 0, 2), "OC", "OCRC", -1).explained
    assert not Gap("TRT", (2, 1, 0), "OCR", "OC", None).explained
    found = [Gap("T", (0,), "OCRC", "OC", 1), Gap("T", (0,), "OC", "OCRC", -1)]
    assert pairs(found) == (1, 1)
