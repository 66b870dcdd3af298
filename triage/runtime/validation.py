"""Request validation: the contracts' protovalidate constraints, checked once for every RPC.

The server interceptor calls :func:`check_request` before a handler sees a request; a bad
request fails as :class:`InvalidArgument` with one field violation per broken rule, so no
handler, conversion or SQL statement ever sees a value its contract rules out.

Two layers, in order:

1. Well-formedness of ``google.protobuf.Timestamp`` and ``Duration`` values, which
   protovalidate does not check (a timestamp with ``nanos = -1`` passes its range rules) and
   which the protobuf runtime's conversions reject with ``ValueError``.
2. ``protovalidate`` over the rules declared in ``protos/`` (lengths, ranges, enums,
   bounds): the contract is the single place a limit is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import protovalidate
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from triage.runtime.errors import MAX_VIOLATIONS, FieldViolation, InvalidArgument, clip

#: Map keys and other echoed fragments of a field path are clipped to this many characters.
MAX_KEY = 32

TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
# The ranges the protobuf specification gives the two types (years 1 to 9999; +-10,000 years).
TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)
DURATION_SECONDS = 315_576_000_000
NANOS = 999_999_999

_validator = protovalidate.Validator()


def check_request(request: object) -> None:
    """Raise :class:`InvalidArgument` listing every broken rule of ``request``, if any.

    A request that is not a protobuf message (a raw-bytes generic handler) has no contract.
    """
    if not isinstance(request, Message):
        return
    violations = list(_well_formed(request))
    if not violations:
        try:
            found = _validator.collect_violations(request)
        except protovalidate.EvaluationError as exc:
            raise InvalidArgument("the request could not be validated") from exc
        violations = [_from_protovalidate(v.proto) for v in found]
    if violations:
        raise invalid(violations)


def invalid(violations: list[FieldViolation]) -> InvalidArgument:
    """One INVALID_ARGUMENT for ``violations``, the first :data:`MAX_VIOLATIONS` in detail."""
    shown = violations[:MAX_VIOLATIONS]
    first = shown[0]
    message = f"{first.field}: {first.description}"
    if len(violations) > 1:
        message = f"{len(violations)} invalid fields; first {message}"
    return InvalidArgument(message, violations=shown)


def _from_protovalidate(violation: Any) -> FieldViolation:
    """A protovalidate ``buf.validate.Violation`` as our field violation."""
    path = ".".join(_element(e) for e in violation.field.elements) or "request"
    description = str(violation.message) or str(violation.rule_id)
    if violation.rule_id == "string.not_contains" and "\x00" in description:
        description = "must not contain NUL characters"
    if violation.for_key:
        description = f"key {description}"
    return FieldViolation(clip(path), clip(description))


def _element(element: Any) -> str:
    """``name``, ``name[3]`` or ``name["key"]`` for one step of a field path."""
    subscript = element.subscript
    if subscript is None:
        return str(element.field_name)
    if subscript.field == "string_key":
        return f"{element.field_name}[{_key(str(subscript.value))}]"
    if subscript.field == "bool_key":
        return f"{element.field_name}[{'true' if subscript.value else 'false'}]"
    return f"{element.field_name}[{int(subscript.value)}]"


def _key(key: str) -> str:
    """A quoted map key, clipped so a huge key is never echoed."""
    return repr(key if len(key) <= MAX_KEY else key[:MAX_KEY] + "…")


# --- layer 1: well-formed Timestamps and Durations -------------------------------------------


@cache
def _plan(descriptor: Descriptor) -> tuple[tuple[str, str], ...]:
    """``(name, shape)`` of the fields of ``descriptor`` that hold, directly or deeper, a
    Timestamp or Duration; shape is ``map``, ``repeated`` or ``single``."""
    plan = []
    for field in descriptor.fields:
        entry = field.message_type
        if entry is None or not _holds_time(entry, frozenset()):
            continue
        if entry.GetOptions().map_entry:
            plan.append((field.name, "map"))
        else:
            plan.append((field.name, "repeated" if field.is_repeated else "single"))
    return tuple(plan)


def _holds_time(descriptor: Descriptor | None, seen: frozenset[str]) -> bool:
    """Whether a message of this type can contain a Timestamp or Duration."""
    if descriptor is None or descriptor.full_name in seen:
        return False
    if descriptor.full_name in (TIMESTAMP, DURATION):
        return True
    inner = seen | {descriptor.full_name}
    return any(_holds_time(f.message_type, inner) for f in descriptor.fields)


def _well_formed(message: Message, prefix: str = "") -> Iterator[FieldViolation]:
    """Violations for malformed Timestamps and Durations anywhere in ``message``."""
    for name, shape in _plan(message.DESCRIPTOR):
        path = prefix + name
        if shape == "single":
            if message.HasField(name):
                yield from _check(getattr(message, name), path)
        elif shape == "repeated":
            for index, item in enumerate(getattr(message, name)):
                yield from _check(item, f"{path}[{index}]")
        else:
            for key, item in getattr(message, name).items():
                yield from _check(item, f"{path}[{_key(str(key))}]")


def _check(message: Message, path: str) -> Iterator[FieldViolation]:
    """Check one value that is, or contains, a Timestamp or Duration."""
    kind = message.DESCRIPTOR.full_name
    if kind == TIMESTAMP:
        seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
        low, high = TIMESTAMP_SECONDS
        if not (low <= seconds <= high and 0 <= nanos <= NANOS):
            yield FieldViolation(
                path, "must be a valid timestamp (years 1 to 9999, nanos 0 to 999999999)"
            )
    elif kind == DURATION:
        seconds, nanos = message.seconds, message.nanos  # type: ignore[attr-defined]
        signs_agree = seconds == 0 or nanos == 0 or (seconds > 0) == (nanos > 0)
        if not (abs(seconds) <= DURATION_SECONDS and abs(nanos) <= NANOS and signs_agree):
            yield FieldViolation(
                path, "must be a valid duration (at most 10,000 years, nanos below 1 s)"
            )
    else:
        yield from _well_formed(message, path + ".")
