"""The floor: the least a webhook path can do (one insert, one JetStream publish, 202).

Same server stack as the gateway (uvicorn + httptools + uvloop), no auth, no parsing, no
batching. The benchmark prints the gateway's figures as ratios against this, measured in
the same run on the same machine.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

import nats
import psycopg
import uvicorn
import uvloop

_TABLE = "CREATE TABLE IF NOT EXISTS floor_events (id uuid PRIMARY KEY, body bytea NOT NULL)"


class Floor:
    """An ASGI app: store the body, publish one message, answer 202."""

    def __init__(self, conninfo: str, nats_url: str) -> None:
        self._conninfo = conninfo
        self._nats_url = nats_url
        self._pool: list[psycopg.AsyncConnection[Any]] = []
        self._js: Any = None

    async def _setup(self) -> None:
        for _ in range(8):
            self._pool.append(
                await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            )
        await self._pool[0].execute(_TABLE)
        nc = await nats.connect(self._nats_url)
        self._js = nc.jetstream()
        try:
            await self._js.add_stream(name="FLOOR", subjects=["floor.>"])
        except Exception:
            await self._js.purge_stream("FLOOR")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self._setup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["method"] == "GET":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        event_id = str(uuid.uuid4())
        conn = (
            self._pool.pop()
            if self._pool
            else await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        )
        try:
            await conn.execute(
                "INSERT INTO floor_events (id, body) VALUES (%s, %s)", (event_id, body)
            )
        finally:
            self._pool.append(conn)
        await self._js.publish("floor.received", body, headers={"Nats-Msg-Id": event_id})
        answer = b'{"status":"accepted","alert_ids":["' + event_id.encode() + b'"],"duplicates":0}'
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def main() -> None:
    """CLI entry point: ``python -m bench.floor --port P --conninfo C --nats-url N``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--conninfo", required=True)
    parser.add_argument("--nats-url", required=True)
    args = parser.parse_args()
    config = uvicorn.Config(
        Floor(args.conninfo, args.nats_url),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )
    uvloop.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
