"""Bus.publish_many against a real JetStream: every message stored once, failures raised."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nats.js.errors import NoStreamResponseError

from triage.runtime.bus import Bus, Outgoing

pytestmark = pytest.mark.integration


def _message(tenant: str, event_id: str, body: bytes = b"x") -> Outgoing:
    return Outgoing(
        subject=f"triage.alert.received.{tenant}",
        payload=body,
        event_id=event_id,
        headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )


async def _stored(bus: Bus, tenant: str) -> list[tuple[bytes, str]]:
    sub = await bus.js.subscribe(f"triage.alert.received.{tenant}", ordered_consumer=True)
    try:
        info = await bus.js.stream_info("TRIAGE_ALERT", subjects_filter=f"*.*.*.{tenant}")
        count = sum((info.state.subjects or {}).values())
        stored = []
        for _ in range(count):
            msg = await sub.next_msg(timeout=5)
            stored.append((msg.data, (msg.headers or {}).get("traceparent", "")))
        return stored
    finally:
        await sub.unsubscribe()


async def test_every_message_is_stored_once_with_its_headers(nats_url: str) -> None:
    bus = await Bus.connect(nats_url, name="test-publish-many")
    try:
        tenant = str(uuid.uuid4())
        ids = [str(uuid.uuid4()) for _ in range(300)]

        await bus.publish_many([_message(tenant, i, i.encode()) for i in ids])
        await bus.publish_many([_message(tenant, i, b"again") for i in ids[:10]])  # a retry

        stored = await _stored(bus, tenant)
        assert sorted(data for data, _ in stored) == sorted(i.encode() for i in ids)
        assert {trace for _, trace in stored} == {_message(tenant, "x").headers["traceparent"]}
        assert bus.js.publish_async_pending() == 0
    finally:
        await bus.close()


async def test_a_subject_no_stream_takes_fails_the_call_and_leaves_nothing_pending(
    nats_url: str,
) -> None:
    bus = await Bus.connect(nats_url, name="test-publish-many")
    try:
        tenant = str(uuid.uuid4())
        nowhere = Outgoing("nostream.here", b"x", str(uuid.uuid4()), {})

        with pytest.raises(NoStreamResponseError):
            await bus.publish_many([_message(tenant, str(uuid.uuid4())), nowhere])
        await asyncio.sleep(0)  # a cancelled future's done callbacks run on the next loop pass

        assert bus.js.publish_async_pending() == 0
        await bus.publish_many([_message(tenant, str(uuid.uuid4()))])  # the client still works
    finally:
        await bus.close()


async def test_no_messages_is_a_no_op(nats_url: str) -> None:
    bus = await Bus.connect(nats_url, name="test-publish-many")
    try:
        await bus.publish_many([])

        assert bus.js.publish_async_pending() == 0
    finally:
        await bus.close()
