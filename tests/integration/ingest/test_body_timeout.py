"""Finding 10: a declared body that never arrives gets 408 instead of holding the
connection open forever."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from services.ingest.gateway.asgi import Gateway
from tests.integration.ingest.conftest import Ingest

pytestmark = pytest.mark.integration

BODY_TIMEOUT = 0.3
# Far beyond the gateway's body timeout: the bound on a test that would otherwise hang.
ANSWER_DEADLINE = 20.0


@pytest.fixture(autouse=True)
def _short_body_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before the ``ingest`` fixture builds its gateway (autouse fixtures come first).
    monkeypatch.setattr(Gateway, "BODY_TIMEOUT_SECONDS", BODY_TIMEOUT, raising=False)


async def test_a_body_that_never_arrives_gets_408(ingest: Ingest) -> None:
    integration_id, secret = await ingest.integration("ninjaone")
    url = urlsplit(ingest.svc.http_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            (
                f"POST /v1/webhooks/ninjaone/{integration_id} HTTP/1.1\r\n"
                f"host: {url.netloc}\r\n"
                "content-type: application/json\r\n"
                f"x-triage-secret: {secret}\r\n"
                "content-length: 1000\r\n"
                "\r\n"
                '{"id": 1, '
            ).encode()
        )
        await writer.drain()
        async with asyncio.timeout(ANSWER_DEADLINE):
            answer = await reader.read(65536)
            rest = await reader.read()  # the gateway closes the connection after answering
    finally:
        writer.close()
    head, _, body = (answer + rest).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"application/problem+json" in head.lower()
    assert b"request-timeout" in body
