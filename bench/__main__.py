"""``make bench``: throughput and latency, printed as ratios against a floor from the same run.

Everything runs on loopback, bounded in count and time, and stops what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import gateway, report
from bench.harness import wait_ready
from triage.devstack.endpoints import Ports
from triage.devstack.stack import start_stack

OUT = Path(__file__).resolve().parent / "out"


async def main(argv: list[str]) -> int:
    """Run the selected scenarios and write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller counts (smoke run)")
    parser.add_argument(
        "--scenarios", default="gateway", help="comma-separated: gateway"
    )
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    results: dict[str, Any] = {"started": time.time(), "quick": args.quick, "scenarios": []}
    with tempfile.TemporaryDirectory(prefix="triage-bench-") as data:
        async with start_stack(
            Path(data), services=False, seed=False, ports=Ports.free(), output=sys.stderr
        ) as stack:
            if "gateway" in scenarios:
                await stack.start_services(("ingest",))
                await wait_ready(stack.endpoints.http + "/readyz")
                results["scenarios"].append(await gateway.run(stack, quick=args.quick))
    report.write_json(results, OUT / "report.json")
    report.plot(results, OUT / "plot.png")
    print(report.table(results))
    print(f"\nreport: {OUT / 'report.json'}\nplot:   {OUT / 'plot.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
