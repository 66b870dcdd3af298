"""Pure parts of offboarding: the deletion order, the JSON form of exported values, the
wire form of a deletion and who may export what."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Column, ForeignKey, MetaData, Table, Text

from services.ingest.domain.deletions import DELETION_ORDER, TenantDeletion, next_service
from triage.runtime.auth import Principal, reset_principal, set_principal
from triage.runtime.errors import InvalidArgument, NotFound, PermissionDenied
from triage.runtime.offboarding import deletion_to_proto, exportable_tenant
from triage.runtime.tenant_data import TenantData, _plain
from triage.tenancy.v1 import offboarding_pb2 as pb


def test_the_order_follows_the_alert_and_ends_with_the_registry() -> None:
    assert DELETION_ORDER == ("rules", "tickets", "sla", "notify", "ingest")
    assert next_service(DELETION_ORDER, "rules") == "tickets"
    assert next_service(DELETION_ORDER, "notify") == "ingest"
    assert next_service(DELETION_ORDER, "ingest") is None


def test_exported_values_are_plain_json() -> None:
    at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert _plain(at) == "2026-01-02T03:04:00+00:00"
    assert _plain(date(2026, 1, 2)) == "2026-01-02"
    assert _plain(timedelta(minutes=2)) == 120.0
    assert _plain(b"\x00\x01") == "AAE="
    assert _plain(Decimal("1.5")) == "1.5"
    assert _plain({1: [uuid.UUID(int=0)]}) == {"1": ["00000000-0000-0000-0000-000000000000"]}


def test_tables_are_deleted_children_first_and_plumbing_is_not_exported() -> None:
    md = MetaData(schema="s")
    Table("parent", md, Column("id", Text, primary_key=True), Column("tenant_id", Text))
    Table(
        "child",
        md,
        Column("id", Text, primary_key=True),
        Column("tenant_id", Text),
        Column("parent_id", Text, ForeignKey("s.parent.id")),
    )
    Table("outbox", md, Column("id", Text, primary_key=True), Column("tenant_id", Text))
    Table("registry", md, Column("id", Text, primary_key=True), Column("tenant_id", Text))
    Table("global", md, Column("id", Text, primary_key=True))
    data = TenantData(md, keep=("registry",))
    names = [t.name for t in data.tables]
    assert names.index("child") < names.index("parent")
    assert "global" not in names and "registry" not in names
    assert {t.name for t in data.exported} == {"parent", "child", "registry"}


def test_a_deletion_on_the_wire() -> None:
    at = datetime(2026, 1, 2, tzinfo=UTC)
    running = TenantDeletion("t", "sla", {"rules": 3, "tickets": 5}, at, None)
    message = deletion_to_proto(running, DELETION_ORDER)
    assert message.state == pb.DELETION_STATE_IN_PROGRESS
    assert message.current_service == "sla"
    assert [(s.service, s.done, s.rows_deleted) for s in message.services] == [
        ("rules", True, 3),
        ("tickets", True, 5),
        ("sla", False, 0),
        ("notify", False, 0),
        ("ingest", False, 0),
    ]
    assert not message.HasField("complete_time")
    done = TenantDeletion("t", None, dict.fromkeys(DELETION_ORDER, 1), at, at)
    assert deletion_to_proto(done, DELETION_ORDER).state == pb.DELETION_STATE_COMPLETED


@pytest.mark.parametrize(
    ("tenant", "scopes", "asked", "outcome"),
    [
        (None, {"admin"}, "11111111-1111-1111-1111-111111111111", None),
        (
            "11111111-1111-1111-1111-111111111111",
            {"tenant:admin"},
            "11111111-1111-1111-1111-111111111111",
            None,
        ),
        (
            "11111111-1111-1111-1111-111111111111",
            {"tickets:*"},
            "11111111-1111-1111-1111-111111111111",
            PermissionDenied,
        ),
        (
            "11111111-1111-1111-1111-111111111111",
            {"tenant:admin"},
            "22222222-2222-2222-2222-222222222222",
            NotFound,
        ),
        (None, {"admin"}, "nope", InvalidArgument),
    ],
)
def test_who_may_export_whom(
    tenant: str | None, scopes: set[str], asked: str, outcome: type[Exception] | None
) -> None:
    token = set_principal(Principal("someone", tenant, frozenset(scopes)))
    try:
        if outcome is None:
            assert exportable_tenant(asked) == asked
        else:
            with pytest.raises(outcome):
                exportable_tenant(asked)
    finally:
        reset_principal(token)
