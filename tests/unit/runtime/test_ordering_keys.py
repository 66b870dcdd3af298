"""Every event a service publishes carries an ordering key, so one key's events share a
partition (and one reader) whatever their type."""

from __future__ import annotations

import ast
from pathlib import Path

from triage.runtime.events import key_token, partition_of, subject_for

ROOT = Path(__file__).resolve().parents[3]


def test_every_envelope_a_service_builds_names_its_ordering_key() -> None:
    missing = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "new_envelope"
                and not any(k.arg == "ordering_key" for k in node.keywords)
            ):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, f"new_envelope without ordering_key: {missing}"


def test_one_key_one_token_whatever_the_event_type() -> None:
    opened = subject_for("ticket.opened", "t1", "ticket-42")
    closed = subject_for("ticket.closed", "t1", "ticket-42")
    assert opened.rsplit(".", 1)[1] == closed.rsplit(".", 1)[1] == key_token("ticket-42")
    assert key_token("ticket-42") != key_token("ticket-43")


def test_the_partition_is_the_stored_subjects_last_token() -> None:
    assert partition_of("triage.alert.routed.t1.7") == 7
    assert partition_of("triage.alert.routed.t1") == -1
