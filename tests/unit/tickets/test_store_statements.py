"""The batch statements' column lists follow the table and the Ticket dataclass."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, SmallInteger, Text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from services.tickets import models
from services.tickets.domain.tickets import Ticket
from services.tickets.store import batches as batch_store


def _pg_type(kind: Any) -> str:
    # Most specific first: BigInteger and SmallInteger are Integers.
    for sql_type, name in (
        (UUID, "uuid"),
        (BigInteger, "bigint"),
        (SmallInteger, "smallint"),
        (Integer, "integer"),
        (Boolean, "boolean"),
        (DateTime, "timestamptz"),
        (ARRAY, "text"),  # travels as its text form, cast back to text[]
        (Text, "text"),
    ):
        if isinstance(kind, sql_type):
            return name
    raise AssertionError(f"no array type for {kind!r}")


def test_every_ticket_field_travels_with_its_column_type() -> None:
    columns = models.tickets.c
    want = [(f.name, _pg_type(columns[f.name].type)) for f in dataclasses.fields(Ticket)]
    assert list(batch_store._TICKET_TYPES) == want
    assert {c.name for c in columns} == {name for name, _ in want}
    # Every instant is a timestamptz, as the arrays are cast.
    assert all(getattr(c.type, "timezone", True) for c in columns)
    arrays = {c.name for c in columns if isinstance(c.type, ARRAY)}
    assert set(batch_store._TICKET_ARRAY_COLUMNS) == arrays


def test_array_text_quotes_every_element() -> None:
    assert batch_store._array_text(()) == "{}"
    assert batch_store._array_text(("a", 'say "hi"', "back\\slash", "")) == (
        '{"a","say \\"hi\\"","back\\\\slash",""}'
    )
