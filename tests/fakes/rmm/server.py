"""Serve a fake over real HTTP on a free loopback port (for integration and e2e tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from .base import FakeApi


@asynccontextmanager
async def serving(fake: FakeApi, *, startup_seconds: float = 10.0) -> AsyncIterator[str]:
    """Run ``fake`` on 127.0.0.1 and yield its base URL; stop it on exit."""
    config = uvicorn.Config(fake, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(startup_seconds):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
