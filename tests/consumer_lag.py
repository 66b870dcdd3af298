"""How far a partitioned consumer group is behind its stream, for tests' idle checks."""

from __future__ import annotations

from nats.js import JetStreamContext


async def group_pending(js: JetStreamContext, stream: str, durable: str) -> int:
    """Messages of ``stream`` that ``durable``'s replicas have not yet handled and acked
    (each replica reads through a JetStream consumer named ``<durable>-<member>``).

    A group with no reader subscribed yet counts as one behind: it cannot be idle.
    """
    readers = [
        info
        for info in await js.consumers_info(stream)
        if info.name is not None and info.name.startswith(f"{durable}-")
    ]
    if not readers:
        return 1
    return sum(int(i.num_pending or 0) + int(i.num_ack_pending or 0) for i in readers)
