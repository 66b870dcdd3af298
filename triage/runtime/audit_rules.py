"""What the audit log records of a call: which RPCs, the target id, the request digest.

Pure functions over method names and protobuf messages (no I/O), so the classification of
every RPC of every service can be listed and checked by a test.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

#: A method whose name starts with one of these verbs only reads; every other method is
#: recorded. The safe default is "recorded": a new RPC is audited unless its name says it
#: reads, and the classification test lists the readers, so a new one is reviewed.
READ_VERBS = ("Get", "List", "BatchGet", "Evaluate", "Simulate", "Check", "Search")

_VERB = re.compile(r"[A-Z][a-z]*")
_WRAPPERS = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
}


@lru_cache(maxsize=1024)
def is_mutating(method: str) -> bool:
    """Whether the full gRPC method (``/pkg.Service/Method``) or bare method name changes
    state, and so is recorded in the audit log."""
    name = method.rsplit("/", 1)[-1]
    return not any(_starts_with_verb(name, verb) for verb in READ_VERBS)


def _starts_with_verb(name: str, verb: str) -> bool:
    # "Get" must be a whole word: GetRule reads, but a Getaway... method would not.
    if not name.startswith(verb):
        return False
    rest = name[len(verb) :]
    return not rest or bool(_VERB.match(rest))


def request_sha256(request: Message) -> str:
    """Lowercase hex SHA-256 of the request's deterministic serialization (map entries
    sorted), so equal requests digest equally and the payload itself is never kept."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def target_id(request: Message, response: Message | None) -> str:
    """The resource a call names (from the request) or created (from the response): the
    first non-empty ``id`` / ``*_id`` string field (``request_id`` aside), at the top level
    or in a singular resource field (``rule.id``); empty when there is none (a batch)."""
    found = _ids_of(request)
    if not found and response is not None:
        found = _ids_of(response)
    return found


def target_of(method: str, request: Message, response: Message | None, tenant: str) -> str:
    """:func:`target_id`, or for a call about the tenant itself (``UpdateTenantSettings``,
    ``DeleteTenant``) that names no other resource, the tenant."""
    found = target_id(request, response)
    if not found and "Tenant" in method.rsplit("/", 1)[-1]:
        return tenant
    return found


def request_id_of(request: Message) -> str:
    """The caller's idempotency key, if the request carries a ``request_id``."""
    field = request.DESCRIPTOR.fields_by_name.get("request_id")
    if field is None or field.type != FieldDescriptor.TYPE_STRING:
        return ""
    return str(_value(request, "request_id"))[:128]


def _ids_of(message: Message) -> str:
    for field in message.DESCRIPTOR.fields:
        if _is_id_field(field):
            value = str(_value(message, field.name))
            if value:
                return value[:256]
    for field in message.DESCRIPTOR.fields:
        if (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and not field.is_repeated
            and field.message_type is not None
            and field.message_type.full_name not in _WRAPPERS
            and message.HasField(field.name)
        ):
            nested = _value(message, field.name)
            id_field = nested.DESCRIPTOR.fields_by_name.get("id")
            if id_field is not None and _is_id_field(id_field):
                value = str(nested.id)
                if value:
                    return value[:256]
    return ""


def _value(message: Message, name: str) -> Any:
    return getattr(message, name)


def _is_id_field(field: Any) -> bool:
    return (
        field.type == FieldDescriptor.TYPE_STRING
        and not field.is_repeated
        and field.name != "request_id"
        and (field.name == "id" or field.name.endswith("_id"))
    )


def tenant_named(request: Message, response: Message | None) -> str:
    """The tenant an administrator's call names (``tenant_id``, or ``tenant.id`` of a tenant
    resource), from the request, else the response (a created tenant); empty if none."""
    for message in (request, response):
        if message is None:
            continue
        fields = message.DESCRIPTOR.fields_by_name
        direct = fields.get("tenant_id")
        if direct is not None and _is_id_field(direct) and _value(message, "tenant_id"):
            return str(_value(message, "tenant_id"))
        nested = fields.get("tenant")
        if (
            nested is not None
            and nested.type == FieldDescriptor.TYPE_MESSAGE
            and not nested.is_repeated
            and message.HasField("tenant")
        ):
            value = str(_value(_value(message, "tenant"), "id"))
            if value:
                return value
    return ""
