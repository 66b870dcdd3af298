"""How a service describes itself to the runtime: its spec, its peers, its errors' codes."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from sqlalchemy import Column, Integer, MetaData, Table

from triage.runtime import Runtime, ServiceSpec, Settings, service_main
from triage.runtime.errors import NotFound, TriageError
from triage.runtime.grpc_errors import status_code


async def _wire(rt: Runtime) -> None:
    """Nothing to wire."""


def _spec(**overrides: object) -> ServiceSpec:
    table = Table("outbox", MetaData(), Column("id", Integer, primary_key=True))
    fields: dict[str, object] = {
        "name": "demo",
        "schema": "demo",
        "outbox": table,
        "wire": _wire,
        "migrations": Path("migrations"),
        "grpc_port": 50099,
        **overrides,
    }
    return ServiceSpec(**fields)  # type: ignore[arg-type]


def test_a_service_needs_the_streams_it_publishes_and_consumes_once_each() -> None:
    spec = _spec(publishes=("ticket",), consumes=("alert", "ticket", "sla"))
    assert spec.streams == ("ticket", "alert", "sla")


def test_peers_come_from_the_environment_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_PEERS__INGEST", "10.0.0.1:50051")
    peers = Settings().peers
    assert peers.address("ingest") == "10.0.0.1:50051"
    assert peers.missing(["ingest", "notify"]) == ["notify"]
    with pytest.raises(LookupError, match="TRIAGE_PEERS__NOTIFY"):
        peers.address("notify")


def test_a_service_whose_peers_have_no_address_does_not_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TRIAGE_PEERS__NOTIFY", raising=False)
    monkeypatch.setenv("TRIAGE_PEERS__INGEST", "127.0.0.1:1")
    assert service_main([], _spec(peers=("ingest", "notify"))) == 2
    assert "TRIAGE_PEERS__NOTIFY" in capsys.readouterr().err


def test_an_error_answers_with_its_nearest_mapped_class_code() -> None:
    class GadgetNotFound(NotFound):
        reason = "GADGET_NOT_FOUND"

    assert status_code(GadgetNotFound("gone")) == grpc.StatusCode.NOT_FOUND
    assert status_code(TriageError("boom")) == grpc.StatusCode.INTERNAL
