"""Write ``buf/validate/validate.proto`` from the descriptor the ``protovalidate`` wheel ships.

The wheel carries the file only as a serialized ``FileDescriptorProto`` (inside its generated
module); protoc, buf and our generated code need it as ``.proto`` source, and the Buf registry is
out of reach. So the Makefile prints it back into source here, then checks the round trip: the
printed file, compiled by protoc, must give the very same descriptor.

Usage: ``python tools/descriptor_to_proto.py OUT_ROOT`` (writes ``OUT_ROOT/buf/validate/...``).
"""

from __future__ import annotations

import sys
import tempfile
from importlib import resources
from pathlib import Path

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_encoding,
    text_format,
)
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from grpc_tools import protoc  # type: ignore[import-untyped]

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    FDP.TYPE_DOUBLE: "double",
    FDP.TYPE_FLOAT: "float",
    FDP.TYPE_INT64: "int64",
    FDP.TYPE_UINT64: "uint64",
    FDP.TYPE_INT32: "int32",
    FDP.TYPE_FIXED64: "fixed64",
    FDP.TYPE_FIXED32: "fixed32",
    FDP.TYPE_BOOL: "bool",
    FDP.TYPE_STRING: "string",
    FDP.TYPE_BYTES: "bytes",
    FDP.TYPE_UINT32: "uint32",
    FDP.TYPE_SFIXED32: "sfixed32",
    FDP.TYPE_SFIXED64: "sfixed64",
    FDP.TYPE_SINT32: "sint32",
    FDP.TYPE_SINT64: "sint64",
}
LABELS = {
    FDP.LABEL_OPTIONAL: "optional",
    FDP.LABEL_REQUIRED: "required",
    FDP.LABEL_REPEATED: "repeated",
}
MAX_FIELD = 536870912
PROTOC_INCLUDE = resources.files("grpc_tools") / "_proto"


def shipped_descriptor() -> bytes:
    """The serialized ``buf/validate/validate.proto`` descriptor inside the installed wheel."""
    from protovalidate._gen.buf.validate import validate_pb

    return bytes(validate_pb._DESC.proto.to_binary())


def quote(value: str) -> str:
    """A protobuf string literal."""
    return '"' + text_encoding.CEscape(value.encode(), as_utf8=True) + '"'


def option_items(options: Message) -> list[str]:
    """``name = value`` for every set option, extensions in parentheses."""
    items = []
    for field, value in options.ListFields():
        name = f"({field.full_name})" if field.is_extension else field.name
        values = value if field.is_repeated else [value]
        for one in values:
            items.append(f"{name} = {literal(field, one)}")
    return items


def literal(field: FieldDescriptor, value: object) -> str:
    """One option value in .proto syntax (messages as text-format aggregates)."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert isinstance(value, Message)
        body = text_format.MessageToString(value, as_one_line=True, as_utf8=True)
        return "{" + body + "}"
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None and isinstance(value, int)
        return str(field.enum_type.values_by_number[value].name)
    if field.type == FieldDescriptor.TYPE_STRING:
        return quote(str(value))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    return str(value)


class Printer:
    """Prints one proto2 ``FileDescriptorProto`` as source, options parsed by ``pool``."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self.lines: list[str] = []
        self.pool = pool

    def options(self, options: Message, kind: str) -> Message:
        """Re-parse ``options`` with the pool's class so extensions show as fields."""
        cls = message_factory.GetMessageClass(self.pool.FindMessageTypeByName(kind))
        return cls.FromString(options.SerializeToString())

    def emit(self, depth: int, text: str) -> None:
        """Append one indented line."""
        self.lines.append("  " * depth + text)

    def file(self, fdp: descriptor_pb2.FileDescriptorProto) -> str:
        """The whole file."""
        self.emit(0, 'syntax = "proto2";')
        self.emit(0, "")
        self.emit(0, f"package {fdp.package};")
        self.emit(0, "")
        for dep in fdp.dependency:
            self.emit(0, f"import {quote(dep)};")
        self.emit(0, "")
        for item in option_items(self.options(fdp.options, "google.protobuf.FileOptions")):
            self.emit(0, f"option {item};")
        for extension in fdp.extension:
            self.extend(0, extension)
        for message in fdp.message_type:
            self.message(0, message)
        for enum in fdp.enum_type:
            self.enum(0, enum)
        return "\n".join(self.lines) + "\n"

    def extend(self, depth: int, field: descriptor_pb2.FieldDescriptorProto) -> None:
        """``extend X { ... }`` for one extension."""
        self.emit(depth, f"extend {field.extendee} {{")
        self.field(depth + 1, field, in_oneof=False)
        self.emit(depth, "}")

    def message(self, depth: int, message: descriptor_pb2.DescriptorProto) -> None:
        """One message with its nested types, oneofs, ranges and fields."""
        self.emit(depth, f"message {message.name} {{")
        inner = depth + 1
        for item in option_items(self.options(message.options, "google.protobuf.MessageOptions")):
            self.emit(inner, f"option {item};")
        for nested in message.nested_type:
            self.message(inner, nested)
        for enum in message.enum_type:
            self.enum(inner, enum)
        for extension in message.extension:
            self.extend(inner, extension)
        printed: set[int] = set()
        for field in message.field:
            if not field.HasField("oneof_index"):
                self.field(inner, field, in_oneof=False)
            elif field.oneof_index not in printed:
                printed.add(field.oneof_index)
                self.oneof(inner, message, field.oneof_index)
        for ext_range in message.extension_range:
            end = "max" if ext_range.end == MAX_FIELD else str(ext_range.end - 1)
            self.emit(inner, f"extensions {ext_range.start} to {end};")
        for reserved in message.reserved_range:
            self.emit(inner, f"reserved {reserved.start} to {reserved.end - 1};")
        for name in message.reserved_name:
            self.emit(inner, f"reserved {quote(name)};")
        self.emit(depth, "}")

    def oneof(self, depth: int, message: descriptor_pb2.DescriptorProto, index: int) -> None:
        """One oneof block with its options and member fields (declared contiguously)."""
        oneof = message.oneof_decl[index]
        self.emit(depth, f"oneof {oneof.name} {{")
        for item in option_items(self.options(oneof.options, "google.protobuf.OneofOptions")):
            self.emit(depth + 1, f"option {item};")
        for field in message.field:
            if field.HasField("oneof_index") and field.oneof_index == index:
                self.field(depth + 1, field, in_oneof=True)
        self.emit(depth, "}")

    def field(
        self, depth: int, field: descriptor_pb2.FieldDescriptorProto, *, in_oneof: bool
    ) -> None:
        """One field declaration with its options."""
        kind = SCALARS.get(field.type, field.type_name)
        label = "" if in_oneof else LABELS[field.label] + " "
        items = []
        if field.HasField("default_value"):
            default = field.default_value
            value = quote(default) if field.type == FDP.TYPE_STRING else default
            items.append(f"default = {value}")
        items += option_items(self.options(field.options, "google.protobuf.FieldOptions"))
        suffix = f" [{', '.join(items)}]" if items else ""
        self.emit(depth, f"{label}{kind} {field.name} = {field.number}{suffix};")

    def enum(self, depth: int, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        """One enum."""
        self.emit(depth, f"enum {enum.name} {{")
        for item in option_items(self.options(enum.options, "google.protobuf.EnumOptions")):
            self.emit(depth + 1, f"option {item};")
        for value in enum.value:
            opts = option_items(self.options(value.options, "google.protobuf.EnumValueOptions"))
            suffix = f" [{', '.join(opts)}]" if opts else ""
            self.emit(depth + 1, f"{value.name} = {value.number}{suffix};")
        for reserved in enum.reserved_range:
            self.emit(depth + 1, f"reserved {reserved.start} to {reserved.end};")
        for name in enum.reserved_name:
            self.emit(depth + 1, f"reserved {quote(name)};")
        self.emit(depth, "}")


def compiled(root: Path, name: str) -> descriptor_pb2.FileDescriptorProto:
    """Compile ``root/name`` with protoc and return its descriptor."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        args = ["protoc", f"-I{root}", f"-I{PROTOC_INCLUDE}", f"--descriptor_set_out={out}", name]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc could not compile {root / name}")
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return files[0]


def main(out_root: Path) -> None:
    """Write the file and prove the round trip."""
    raw = shipped_descriptor()
    pool = descriptor_pool.DescriptorPool()
    for dep in ("descriptor", "duration", "field_mask", "timestamp"):
        module = __import__(f"google.protobuf.{dep}_pb2", fromlist=["DESCRIPTOR"])
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(raw)
    message_factory.GetMessageClassesForFiles(["buf/validate/validate.proto"], pool)
    original = descriptor_pb2.FileDescriptorProto.FromString(raw)
    target = out_root / original.name
    target.parent.mkdir(parents=True, exist_ok=True)
    header = "// Printed from the protovalidate wheel's descriptor (Apache-2.0); do not edit.\n"
    target.write_text(header + Printer(pool).file(original))
    if compiled(out_root, original.name) != original:
        target.unlink()
        raise SystemExit(f"{target}: printed file does not compile back to the shipped descriptor")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
