"""Every field a request can carry declares its bounds on the contract (protovalidate)."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from buf.validate import validate_pb2
from triage.audit.v1 import audit_pb2
from triage.ingest.v1 import ingest_service_pb2, tenant_service_pb2
from triage.notify.v1 import notify_service_pb2
from triage.rules.v1 import rules_service_pb2
from triage.sla.v1 import sla_service_pb2
from triage.tickets.v1 import tickets_service_pb2

FILES = (
    ingest_service_pb2,
    tenant_service_pb2,
    rules_service_pb2,
    tickets_service_pb2,
    sla_service_pb2,
    notify_service_pb2,
    audit_pb2,
)
#: Types whose every value is fine, or that are checked field by field inside.
FREE = {FieldDescriptor.TYPE_BOOL}
BOUNDED_MESSAGES = {"google.protobuf.Timestamp", "google.protobuf.Duration"}


def request_messages() -> Iterator[Descriptor]:
    """Every message type a request of any RPC can contain, each once."""
    seen: set[str] = set()
    todo = [
        m.input_type
        for f in FILES
        for s in f.DESCRIPTOR.services_by_name.values()
        for m in s.methods
    ]
    while todo:
        message = todo.pop()
        if message.full_name in seen or message.full_name.startswith("google.protobuf."):
            continue
        seen.add(message.full_name)
        yield message
        todo += [f.message_type for f in message.fields if f.message_type is not None]


def needs_rule(field: FieldDescriptor) -> bool:
    """Whether the field can hold a value its type allows but the services cannot take."""
    if field.type in FREE:
        return False
    if field.message_type is None or field.is_repeated:
        return True  # scalars, enums, lists and maps
    return field.message_type.full_name in BOUNDED_MESSAGES


def test_every_request_field_that_can_be_out_of_bounds_has_a_rule() -> None:
    missing = [
        f"{message.full_name}.{field.name}"
        for message in request_messages()
        if not message.GetOptions().map_entry
        for field in message.fields
        if needs_rule(field) and not field.GetOptions().HasExtension(validate_pb2.field)
    ]
    assert not missing, f"fields without a buf.validate rule: {missing}"


def test_every_stored_string_refuses_nul() -> None:
    loose = []
    for message in request_messages():
        if message.GetOptions().map_entry:
            continue  # keys and values are bounded by the map field's own rule
        for field in message.fields:
            if field.type != FieldDescriptor.TYPE_STRING:
                continue
            rules = field.GetOptions().Extensions[validate_pb2.field]
            text = rules.repeated.items.string if field.is_repeated else rules.string
            if text.not_contains != "\x00" or not text.HasField("max_len"):
                loose.append(f"{message.full_name}.{field.name}")
    assert not loose, f"strings without max_len and a NUL ban: {loose}"
