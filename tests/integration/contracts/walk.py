"""Bad requests generated from the descriptors: every field of every RPC, each bad value alone.

A case is one request with one field (found by walking the request type, nested messages
included) set to a value its contract rules out or that sits at the edge of its type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

MB_TEXT = "x" * 1_000_000
MAX_DEPTH = 5
TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1
INT32_TYPES = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
}
INT64_TYPES = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
}
Setter = Callable[[Message, FieldDescriptor], None]


@dataclass(frozen=True)
class Case:
    """One bad request: the RPC, the field path, what was put there, and the request."""

    method: MethodDescriptor
    path: str
    value: str
    request: Message
    #: True when the contract itself rules the value out (the answer must be INVALID_ARGUMENT).
    contract: bool

    @property
    def rpc(self) -> str:
        """``/package.Service/Method``, the gRPC method name."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    def __str__(self) -> str:
        return f"{self.method.containing_service.name}.{self.method.name} {self.path}={self.value}"


def _scalar_values(field: FieldDescriptor) -> list[tuple[str, Any, bool]]:
    """``(label, value, contract-violation)`` for a scalar field."""
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return [("1MB", MB_TEXT, True), ("NUL", "a\x00b", True)]
    if t == FieldDescriptor.TYPE_BYTES:
        return [("5MB", b"\x00" * (5 << 20), True)]
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return [("NaN", math.nan, True), ("-1", -1.0, True), ("inf", math.inf, True)]
    if t == FieldDescriptor.TYPE_ENUM:
        return [("99", 99, True)]
    if t in (
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SFIXED32,
    ):
        return [("-5", -5, True), ("max", INT32_MAX, False)]
    if t in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
    ):
        return [("-5", -5, True), ("max", INT64_MAX, False)]
    return []


def _time_values(kind: str) -> list[tuple[str, dict[str, int], bool]]:
    """Out-of-range and malformed Timestamps or Durations."""
    if kind == TIMESTAMP:
        return [
            ("1e15s", {"seconds": 10**15}, True),
            ("nanos-1", {"seconds": 1, "nanos": -1}, True),
            ("year0", {"seconds": -(10**13)}, True),
            ("nanos2e9", {"seconds": 1_700_000_000, "nanos": 2_000_000_000}, True),
        ]
    return [
        ("1e15s", {"seconds": 10**15}, True),
        ("mixed-signs", {"seconds": 1, "nanos": -5}, True),
        ("negative", {"seconds": -5}, True),
    ]


def _descend(message: Message, steps: list[FieldDescriptor]) -> Message:
    """The sub-message at ``steps``, created on the way (one element for repeated fields)."""
    for step in steps:
        container = getattr(message, step.name)
        if step.message_type is not None and step.message_type.GetOptions().map_entry:
            message = container["k"]
        elif step.is_repeated:
            message = container.add()
        else:
            message = container
    return message


def _leaves(
    descriptor: Descriptor, steps: list[FieldDescriptor], seen: frozenset[str]
) -> Iterator[tuple[list[FieldDescriptor], FieldDescriptor]]:
    """Every field reachable from ``descriptor``, with the message fields leading to it."""
    for field in descriptor.fields:
        sub = field.message_type
        if (
            sub is None
            or sub.full_name in (TIMESTAMP, DURATION)
            or sub.GetOptions().map_entry
            or sub.full_name.startswith("google.protobuf.")
        ):
            yield steps, field
        elif sub.full_name not in seen and len(steps) < MAX_DEPTH:
            yield from _leaves(sub, [*steps, field], seen | {sub.full_name})


def _path(steps: list[FieldDescriptor], field: FieldDescriptor) -> str:
    return ".".join(s.name + ("[0]" if s.is_repeated else "") for s in [*steps, field])


def cases(method: MethodDescriptor) -> Iterator[Case]:
    """Every bad request for ``method``."""
    request_type = GetMessageClass(method.input_type)
    for steps, field in _leaves(method.input_type, [], frozenset({method.input_type.full_name})):
        for label, contract, fill in _fillers(field):
            request = request_type()
            fill(_descend(request, steps), field)
            yield Case(method, _path(steps, field), label, request, contract)


def _fillers(field: FieldDescriptor) -> Iterator[tuple[str, bool, Setter]]:
    """``(label, contract, setter)`` for each bad value of ``field``."""
    sub = field.message_type
    if sub is not None and sub.GetOptions().map_entry:
        key, value = sub.fields_by_name["key"], sub.fields_by_name["value"]
        if key.type == FieldDescriptor.TYPE_STRING:
            yield "1MB-key", True, lambda m, f: getattr(m, f.name).__setitem__(MB_TEXT, _any(value))
        for label, bad, contract in _scalar_values(value):
            yield f"value:{label}", contract, _map_setter(bad)
        return
    if sub is not None and sub.full_name in (TIMESTAMP, DURATION):
        for label, parts, contract in _time_values(sub.full_name):
            yield label, contract, _message_setter(parts)
        return
    if sub is not None and sub.full_name == "google.protobuf.FieldMask":
        yield "1MB-path", False, lambda m, f: getattr(m, f.name).paths.append(MB_TEXT)
        return
    if sub is not None:
        return
    for label, bad, contract in _scalar_values(field):
        yield label, contract, _scalar_setter(bad)
    if field.is_repeated and field.type == FieldDescriptor.TYPE_STRING:
        yield "20000-items", True, lambda m, f: getattr(m, f.name).extend(["k"] * 20_000)


def _any(field: FieldDescriptor) -> Any:
    """A harmless value for a map's value field."""
    if field.type == FieldDescriptor.TYPE_STRING:
        return "v"
    return 0


def _scalar_setter(bad: Any) -> Setter:
    def fill(message: Message, field: FieldDescriptor) -> None:
        if field.is_repeated:
            getattr(message, field.name).append(bad)
        else:
            setattr(message, field.name, bad)

    return fill


def _map_setter(bad: Any) -> Setter:
    def fill(message: Message, field: FieldDescriptor) -> None:
        getattr(message, field.name)["k"] = bad

    return fill


def _message_setter(parts: dict[str, int]) -> Setter:
    def fill(message: Message, field: FieldDescriptor) -> None:
        target = getattr(message, field.name)
        item = target.add() if field.is_repeated else target
        for name, number in parts.items():
            setattr(item, name, number)

    return fill
