"""What every conversion shares: stored JSON, enum words, field masks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from google.protobuf import field_mask_pb2, json_format
from google.protobuf.message import Message

from triage.runtime import InvalidArgument

M = TypeVar("M", bound=Message)


def to_json(message: Message) -> dict[str, Any]:
    """A message as JSON data with proto field names (how JSONB columns store them)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def from_json(data: Mapping[str, Any] | None, message: M) -> M:
    """Fill ``message`` from stored JSON data."""
    json_format.ParseDict(dict(data or {}), message, ignore_unknown_fields=True)
    return message


def enum_word(enum: Any, value: int, prefix: str) -> str:
    """The lower-case word of an enum value without its prefix (``PROVIDER_DATTO``: datto)."""
    return str(enum.Name(value)).removeprefix(prefix).lower()


def mask_paths(mask: field_mask_pb2.FieldMask, allowed: set[str]) -> set[str]:
    """The paths an update mask names (none: every ``allowed`` field); INVALID_ARGUMENT
    when one is not an updatable field."""
    paths = set(mask.paths) or allowed
    bad = [p for p in paths if p.split(".", 1)[0] not in allowed]
    if bad:
        raise InvalidArgument.field("update_mask", f"cannot update {sorted(bad)}")
    return paths


def merge(source: Message, target: Message, paths: set[str]) -> None:
    """Copy the masked ``paths`` of ``source`` onto ``target`` (lists and messages replaced)."""
    mask = field_mask_pb2.FieldMask(paths=sorted(paths))
    if not mask.IsValidForDescriptor(target.DESCRIPTOR):  # type: ignore[arg-type]
        raise InvalidArgument.field("update_mask", f"unknown field in {sorted(paths)}")
    mask.MergeMessage(source, target, replace_message_field=True, replace_repeated_field=True)
