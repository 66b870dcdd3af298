"""A tiny smoke call of the sla benchmark functions (timings are never asserted)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.sla_clocks import business_time_ops, timer_bench

pytestmark = pytest.mark.integration


async def test_bench_functions_run(fresh_db: str) -> None:
    ops = business_time_ops(200)
    assert ops["add_business_time_per_s"] > 0
    result = await timer_bench(
        fresh_db, clocks=40, window=timedelta(seconds=20), speed=20.0, timeout_seconds=30
    )
    assert result["fired"] == 40
