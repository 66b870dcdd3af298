"""The routing transaction's settings read carries a partitioned batch's fence check."""

from __future__ import annotations

from collections import namedtuple

from services.rules.store.settings import fence_held, settings_by_tenant, settings_read
from triage.runtime.fence import BatchFence, FenceChecking

FENCE = BatchFence(
    lock="(SELECT 1) AS fence_locks",
    check="SELECT count(*) FROM rules.consumer_leases WHERE owner = %(fence_member)s",
    params={"fence_member": "m", "fence_parts": [1, 2]},
    expected=2,
)
Row = namedtuple("Row", "tenant_id time_zone default_actions rule_set_version fence_held")


def test_an_unfenced_read_is_a_plain_statement() -> None:
    statement, params, _ = settings_read(["t1"])
    assert not isinstance(statement, FenceChecking)
    assert params == {"tenant_id": ["t1"]}


def test_a_fenced_read_runs_the_fences_own_check_so_the_runtime_sends_none_apart() -> None:
    statement, params, _ = settings_read(["t1"], fence=FENCE)
    assert isinstance(statement, FenceChecking)
    assert FENCE.check in statement
    assert params == {"tenant_id": ["t1"], "fence_member": "m", "fence_parts": [1, 2]}


def test_a_fenced_reads_row_without_settings_only_carries_the_held_count() -> None:
    rows = [Row(None, None, None, None, 1)]
    assert fence_held(rows) == 1
    assert settings_by_tenant(rows) == {}
    found = [Row("t1", "UTC", {}, 3, 2), Row("t2", "UTC", {}, 1, 2)]
    assert fence_held(found) == 2
    assert set(settings_by_tenant(found)) == {"t1", "t2"}
