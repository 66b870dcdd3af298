"""``triage audit list`` merges the services' pages into one newest-first listing."""

from __future__ import annotations

import random

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from triage.audit.v1 import audit_pb2 as pb
from triage.cli.audit import Page, decode_cursor, encode_cursor, merge
from triage.cli.common import CliError

SERVICES = ("ingest", "rules", "tickets")


def _logs(seed: int) -> dict[str, list[pb.AuditEntry]]:
    """Each service's entries, newest first, with clashing instants across services."""
    rng = random.Random(seed)
    logs: dict[str, list[pb.AuditEntry]] = {}
    for service in SERVICES:
        entries = [
            pb.AuditEntry(
                id=f"{service}-{i:03d}",
                service=service,
                time=Timestamp(seconds=rng.randrange(1000), nanos=rng.choice((0, 5))),
            )
            for i in range(rng.randrange(0, 30))
        ]
        entries.sort(key=lambda e: (e.time.seconds, e.time.nanos, e.id), reverse=True)
        for position, entry in enumerate(entries):
            entry.resume_token = str(position + 1)
        logs[service] = entries
    return logs


def _page(entries: list[pb.AuditEntry], token: str, size: int) -> Page:
    """What a service answers: ``size`` entries after the token's position."""
    start = int(token or 0)
    chunk = entries[start : start + size]
    more = start + size < len(entries)
    return chunk, chunk[-1].resume_token if more and chunk else ""


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("size", [1, 3, 7])
def test_paging_through_the_merge_yields_every_entry_once_newest_first(
    seed: int, size: int
) -> None:
    logs = _logs(seed)
    expected = sorted(
        (e for entries in logs.values() for e in entries),
        key=lambda e: (e.time.seconds, e.time.nanos, e.id),
        reverse=True,
    )
    cursor = decode_cursor("", SERVICES)
    shown: list[pb.AuditEntry] = []
    for _ in range(200):
        pages = {s: _page(logs[s], t, size) for s, t in cursor.items() if t is not None}
        page, cursor = merge(pages, cursor, size)
        assert len(page) <= size
        shown += page
        text = encode_cursor(cursor)
        if not text:
            break
        cursor = decode_cursor(text, SERVICES)
    assert [e.id for e in shown] == [e.id for e in expected]


def test_a_cursor_for_other_services_is_refused() -> None:
    text = encode_cursor({"ingest": "1", "rules": None})
    with pytest.raises(CliError):
        decode_cursor(text, SERVICES)
    with pytest.raises(CliError):
        decode_cursor("not base64 json", SERVICES)
