"""Console page render times at N tickets (issue 20: "under 200 ms at 10,000 tickets").

Starts the whole mesh and the console on free ports, sends ``--through-api`` distinct
alerts through the webhook gateway (a catch-all rule opens a ticket for each: real alerts,
tickets and SLA clocks), waits for those tickets, then clones them by SQL in the tickets
and sla schemas (new ids, numbers and problem keys) up to N, signs in to the console with a
tenant token and times each page's full server render (sequential GETs over loopback,
after one warm-up), reporting p50/p95 in milliseconds. Not a test: figures vary by host.

    .venv/bin/python -m bench.console_pages [--tickets 10000] [--samples 40]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
import time
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy.engine import make_url

from bench.harness import (
    run_load_async,
    running_mesh,
    seed_routed_targets,
    tenant_metadata,
)
from bench.loadgen import percentile
from bench.workload import Target
from triage.devstack._util import free_port
from triage.devstack.stack import Stack

SEVERITIES = ("critical", "error", "warning", "info")


def alert_requests(target: Target, count: int) -> list[dict[str, Any]]:
    """``count`` generic triggers, each a new problem (so a new ticket) on one of 40
    clients and four severities."""
    out: list[dict[str, Any]] = []
    for n in range(count):
        body = orjson.dumps(
            {
                "event_action": "trigger",
                "dedup_key": f"console-bench-{n}",
                "client": f"client-{n % 40:02d}",
                "payload": {
                    "summary": f"Backup job {n} failed",
                    "source": f"host-{n}",
                    "severity": SEVERITIES[n % len(SEVERITIES)],
                    "component": "backup",
                },
            }
        )
        out.append(
            {
                "kind": "trigger",
                "path": f"/v1/webhooks/{target.provider}/{target.integration_id}",
                "headers": {"Content-Type": "application/json", "X-Triage-Secret": target.secret},
                "body_b64": base64.b64encode(body).decode(),
            }
        )
    return out


async def ticket_count(stack: Stack, tenant_id: str) -> int:
    """Tickets of ``tenant_id`` (read as the schema owner: a bench probe, not the app)."""
    url = make_url(stack.database_url).set(drivername="postgresql").render_as_string(False)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        row = await (
            await conn.execute(
                "SELECT count(*) FROM tickets.tickets WHERE tenant_id = %s", (tenant_id,)
            )
        ).fetchone()
    return int(row[0]) if row else 0


async def _columns(conn: psycopg.AsyncConnection[Any], schema: str, table: str) -> list[str]:
    rows = await (
        await conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
    ).fetchall()
    return [r[0] for r in rows]


async def _clone(
    conn: psycopg.AsyncConnection[Any],
    schema: str,
    table: str,
    key: str,
    tenant_id: str,
    overrides: dict[str, str],
) -> int:
    """Copy ``schema.table``'s rows of the tenant once per row of the temp table ``copy``
    (``old`` -> ``new`` ticket id), with ``overrides`` (column -> SQL over ``t``/``m``)."""
    cols = await _columns(conn, schema, table)
    exprs = [overrides.get(c, f"t.{c}") for c in cols]
    query = (
        f"INSERT INTO {schema}.{table} ({', '.join(cols)}) "
        f"SELECT {', '.join(exprs)} FROM {schema}.{table} t JOIN copy m ON t.{key} = m.old "
        "WHERE t.tenant_id = %s"
    )
    return (await conn.execute(query, (tenant_id,))).rowcount


async def top_up(stack: Stack, tenant_id: str, want: int) -> int:
    """Clone the tenant's API-made tickets (tickets' rows and sla's ticket and clock rows,
    new ids, numbers and problem keys) until it has ``want``: the fast SQL seed, since
    the shared test host opens only some tens of tickets a second through the mesh."""
    url = make_url(stack.database_url).set(drivername="postgresql").render_as_string(False)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        have = await ticket_count(stack, tenant_id)
        copies = max(0, -(-(want - have) // have)) if have else 0
        if not copies:
            return 0
        top = await (
            await conn.execute(
                "SELECT max(number) FROM tickets.tickets WHERE tenant_id = %s", (tenant_id,)
            )
        ).fetchone()
        step = int(top[0] if top else 0)
        await conn.execute(
            "CREATE TEMP TABLE copy AS SELECT t.id AS old, gen_random_uuid() AS new, k "
            "FROM tickets.tickets t, generate_series(1, %s) AS k WHERE t.tenant_id = %s "
            "ORDER BY k, t.number LIMIT %s",
            (copies, tenant_id, want - have),
        )
        number = f"t.number + m.k * {step}"
        await _clone(
            conn,
            "tickets",
            "tickets",
            "id",
            tenant_id,
            {
                "id": "m.new",
                "number": number,
                "dedup_key": "t.dedup_key || '-copy' || m.k",
                "title": "t.title || ' (copy ' || m.k || ')'",
                "created_at": "t.created_at - m.k * interval '1 minute'",
            },
        )
        await conn.execute(
            "UPDATE tickets.ticket_counters SET last_number = "
            "(SELECT max(number) FROM tickets.tickets WHERE tenant_id = %s) WHERE tenant_id = %s",
            (tenant_id, tenant_id),
        )
        await _clone(
            conn, "sla", "tickets", "ticket_id", tenant_id, {"ticket_id": "m.new", "number": number}
        )
        await _clone(conn, "sla", "clocks", "ticket_id", tenant_id, {"ticket_id": "m.new"})
        await conn.commit()
    return want - have


async def wait_for_tickets(stack: Stack, tenant_id: str, want: int, within: float) -> float:
    """Poll until ``want`` tickets exist; the seconds it took."""
    began = time.monotonic()
    while (have := await ticket_count(stack, tenant_id)) < want:
        if time.monotonic() - began > within:
            raise RuntimeError(f"only {have} of {want} tickets after {within:.0f}s")
        await asyncio.sleep(0.5)
    return time.monotonic() - began


async def sign_in(client: httpx.AsyncClient, token: str) -> None:
    """The console's paste-a-token form, as a browser sends it."""
    page = await client.get("/login")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert nonce, "no sign-in form"
    reply = await client.post("/login", data={"csrf_token": nonce.group(1), "token": token})
    if reply.status_code != 303:
        raise RuntimeError(f"sign-in refused: {reply.status_code} {reply.text[:300]}")


async def first_link(client: httpx.AsyncClient, page: str, pattern: str) -> str:
    """The first link on ``page`` matching ``pattern`` (a ticket or an alert)."""
    found = re.search(pattern, (await client.get(page)).text)
    if not found:
        raise RuntimeError(f"no link like {pattern} on {page}")
    return found.group(0).strip('"')


async def time_pages(
    client: httpx.AsyncClient, pages: dict[str, str], samples: int
) -> dict[str, dict[str, float]]:
    """p50/p95/max of each page's GET (status 200 required), in milliseconds."""
    figures: dict[str, dict[str, float]] = {}
    for name, path in pages.items():
        await client.get(path)  # warm-up: channels, template compilation
        took: list[float] = []
        for _ in range(samples):
            began = time.perf_counter()
            reply = await client.get(path)
            took.append(time.perf_counter() - began)
            if reply.status_code != 200:
                raise RuntimeError(f"{path}: {reply.status_code}")
        figures[name] = {
            "p50_ms": percentile(took, 50) * 1000,
            "p95_ms": percentile(took, 95) * 1000,
            "max_ms": max(took) * 1000,
        }
    return figures


async def run(stack: Stack, *, tickets: int, through_api: int, samples: int) -> dict[str, Any]:
    """Seed ``tickets`` tickets in one tenant of ``stack`` (``through_api`` of them from
    webhooks, the rest cloned by SQL) and time the console's pages."""
    (target,) = await seed_routed_targets(stack, tenants=1, providers=("generic",))
    through_api = min(through_api, tickets)
    load = await run_load_async(
        stack.endpoints.http,
        alert_requests(target, through_api),
        concurrency=16,
        count=through_api,
        seconds=600,
    )
    settled = await wait_for_tickets(stack, target.tenant_id, through_api, within=900)
    cloned = await top_up(stack, target.tenant_id, tickets)
    # Let sla finish the clocks of the last API tickets before timing reads.
    await asyncio.sleep(2)
    console_url = await stack.start_console(free_port())
    (_, bearer) = tenant_metadata(stack, target.tenant_id)[0]
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as client:
        await sign_in(client, bearer.removeprefix("Bearer "))
        ticket = await first_link(client, "/tickets", r'"/tickets/[0-9a-f-]{36}"')
        alert = await first_link(client, "/alerts", r'"/alerts/[0-9a-f-]{36}"')
        pages = {
            "now": "/",
            "now_board": "/now/board",
            "tickets": "/tickets",
            "tickets_open_p1": "/tickets?state=open&priority=p1",
            "ticket": ticket,
            "alerts": "/alerts",
            "alert": alert,
        }
        figures = await time_pages(client, pages, samples)
    return {
        "scenario": "console",
        "tickets": await ticket_count(stack, target.tenant_id),
        "through_api": through_api,
        "cloned_by_sql": cloned,
        "seed_seconds": load["seconds"] + settled,
        "pages": figures,
    }


def table(result: dict[str, Any]) -> str:
    """The figures as a small text table."""
    lines = [f"console pages at {result['tickets']} tickets", "page              p50 ms  p95 ms"]
    for name, f in result["pages"].items():
        lines.append(f"{name:<16} {f['p50_ms']:7.1f} {f['p95_ms']:7.1f}")
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    """Run on a fresh mesh and print the table (and the JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m bench.console_pages")
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument(
        "--through-api", type=int, default=1_000, help="tickets made from webhooks (the rest: SQL)"
    )
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    async with running_mesh() as stack:
        result = await run(
            stack, tickets=args.tickets, through_api=args.through_api, samples=args.samples
        )
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
