"""Event envelopes and subjects: ``triage.<domain>.<event>.<tenant_id>.<key>``.

A publisher puts a token of the event's ordering key last; the stream's subject transform
replaces it with the key's partition (``partition(N, token)``), so every event of one key
(an alert series, a ticket) is stored under one partition whatever its type, and one
reader per partition sees a key's events in stream order.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message

from triage.events.v1.envelope_pb2 import Envelope
from triage.runtime.ids import new_id

M = TypeVar("M", bound=Message)
T = TypeVar("T")

#: Dead letters of every consumer group: ``triage.deadletter.<durable>``.
DEADLETTER_STREAM = "TRIAGE_DEADLETTER"
DEADLETTER_SUBJECTS = "triage.deadletter.>"


def domain_of(subject_or_type: str) -> str:
    """The event domain of a subject (``triage.alert.received.>``) or an event type
    (``alert.received``): ``alert``."""
    parts = subject_or_type.split(".")
    return parts[1] if parts[0] == "triage" and len(parts) > 1 else parts[0]


def stream_name(domain: str) -> str:
    """The JetStream stream holding a domain's events (``alert`` -> TRIAGE_ALERT)."""
    return f"TRIAGE_{domain.upper()}"


def stream_subjects(domain: str) -> str:
    """The subjects a domain's stream captures (``triage.alert.>``)."""
    return f"triage.{domain}.>"


def key_token(ordering_key: str) -> str:
    """A subject-safe token for an ordering key (its CRC-32 in hex): equal keys, equal
    tokens, so the stream's ``partition()`` puts them in one partition."""
    return f"{zlib.crc32(ordering_key.encode()):08x}"


def subject_for(event_type: str, tenant_id: str, ordering_key: str = "") -> str:
    """The subject an event is published on (its key's token last; the stream turns the
    token into the partition number)."""
    return f"triage.{event_type}.{tenant_id}.{key_token(ordering_key)}"


def envelope_subject(envelope: Envelope) -> str:
    """The subject ``envelope`` is published on (keyed by its ordering key, else its id)."""
    return subject_for(
        envelope.type, envelope.tenant_id, envelope.ordering_key or envelope.event_id
    )


def partition_transform(domain: str, partitions: int) -> tuple[str, str]:
    """The (source, destination) subject transform that partitions ``domain``'s stream by key
    token: ``triage.alert.received.<tenant>.<token>`` -> ``triage.alert.received.<tenant>.<n>``."""
    return (
        f"triage.{domain}.*.*.*",
        f"triage.{domain}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{{{{partition({partitions},3)}}}}",
    )


def partition_of(subject: str) -> int:
    """The partition a stored subject carries (its last token); -1 if it carries none."""
    last = subject.rsplit(".", 1)[-1]
    return int(last) if last.isdigit() else -1


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for an aware datetime (a naive one is read as local time)."""
    if moment.tzinfo is None:
        moment = moment.astimezone(UTC)
    # Integer arithmetic on the timedelta: a third of Timestamp.FromDatetime's cost, which
    # counts on the gateway's path (several stamps per alert).
    since = moment - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1_000
    )


def from_timestamp(stamp: timestamp_pb2.Timestamp) -> datetime:
    """An aware UTC datetime for a protobuf Timestamp."""
    return stamp.ToDatetime(tzinfo=UTC)


def new_envelope(
    *,
    tenant_id: str,
    event_type: str,
    payload: Message,
    producer: str,
    ordering_key: str = "",
    occurred_at: datetime | None = None,
    event_id: str | None = None,
) -> Envelope:
    """Wrap ``payload`` in a fresh envelope with a new event id."""
    packed = any_pb2.Any()
    packed.Pack(payload)
    return Envelope(
        event_id=event_id or new_id(),
        tenant_id=tenant_id,
        occurred_time=to_timestamp(occurred_at or datetime.now(UTC)),
        type=event_type,
        payload=packed,
        producer=producer,
        ordering_key=ordering_key,
    )


def unpack(envelope: Envelope, message_type: type[M]) -> M:
    """The envelope's payload as ``message_type``; ValueError if it holds something else."""
    message = message_type()
    if not envelope.payload.Unpack(message):
        raise ValueError(
            f"event {envelope.event_id} carries {envelope.payload.type_url}, "
            f"not {message_type.DESCRIPTOR.full_name}"
        )
    return message


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """An envelope as a consumer receives it, with its transport facts."""

    envelope: Envelope
    subject: str
    headers: dict[str, str]
    num_delivered: int
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per event and ``key``: a payload decoded to sort a batch is
        the one its handler reads (each event is decoded once)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return cast(T, self._memo[key])

    @property
    def event_id(self) -> str:
        """The envelope's event id."""
        return self.envelope.event_id

    @property
    def tenant_id(self) -> str:
        """The envelope's tenant."""
        return self.envelope.tenant_id

    @property
    def type(self) -> str:
        """The envelope's event type."""
        return self.envelope.type
