from datetime import UTC, datetime

import pytest

from services.ingest.domain.alerts import AlertKind, NormalizationError, Provider, Severity

from .helpers import one, run

P = Provider.NCENTRAL
NY = "America/New_York"


def test_failed_notification() -> None:
    alert = one(P, "failed.xml", time_zone=NY)
    assert alert.kind is AlertKind.TRIGGER
    assert alert.severity is Severity.HIGH
    assert alert.raw_severity == "Failed"
    assert alert.client_name == "Wide World Importers > Seattle"
    assert alert.client_id is None
    assert alert.device_name == "WWI-SQL01"
    assert alert.device_id == "10.20.30.41"
    assert alert.condition == "Disk Drive Space"
    assert alert.series_key == "WWI-SQL01:334455667"
    assert alert.source_ref == "1187654321"
    assert "Drive C:\\ - Disk Free Space = 2.1 GB (Failed)\nDrive D:\\" in alert.message
    assert alert.labels["ServiceOrganizationName"] == "Acme MSP & Co"
    # 02:30 does not exist on 2025-03-09 in New York: it moves forward to 03:30 EDT.
    assert alert.occurred_at == datetime(2025, 3, 9, 7, 30, tzinfo=UTC)


def test_back_to_normal_is_the_reset() -> None:
    trigger = one(P, "failed.xml", time_zone=NY)
    reset = one(P, "normal.xml", time_zone=NY)
    assert reset.kind is AlertKind.RESET
    assert reset.series_key == trigger.series_key
    assert reset.client_id == "WWI-001"
    # 01:30 happens twice on 2025-11-02 in New York: the first (EDT) is chosen.
    assert reset.occurred_at == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)


def test_missing_device_and_entities() -> None:
    alert = one(P, "warning_no_device.xml", time_zone=NY)
    assert alert.kind is AlertKind.TRIGGER
    assert alert.severity is Severity.MEDIUM
    assert alert.device_id is None
    assert alert.device_name is None
    assert alert.client_name is None
    assert alert.series_key == "-:Patch Status"
    assert "5 patches pending <critical>" in alert.message
    assert alert.occurred_at == datetime(2025, 7, 1, 16, 0, tzinfo=UTC)


def test_non_utf8_bytes_despite_declaration() -> None:
    alert = one(P, "cp1252_bytes.xml")
    assert alert.client_name == "Bäckerei Müller GmbH"
    assert "Größe überschritten – 5 €" in alert.message


def test_several_notifications_under_a_wrapper() -> None:
    raw = (
        b"<notifications><notification><DeviceName>A</DeviceName><TaskIdent>1</TaskIdent>"
        b"<QualitativeNewState>Failed</QualitativeNewState></notification>"
        b"<notification><DeviceName>B</DeviceName><TaskIdent>2</TaskIdent>"
        b"<QualitativeNewState>Normal</QualitativeNewState></notification></notifications>"
    )
    alerts = run(P, raw)
    assert [(a.series_key, a.kind) for a in alerts] == [
        ("A:1", AlertKind.TRIGGER),
        ("B:2", AlertKind.RESET),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"not xml",
        b"<other><x>1</x></other>",
        b'<!DOCTYPE n [<!ENTITY e "boom">]><notification>&e;</notification>',
    ],
)
def test_unreadable_xml_is_a_normalization_error(raw: bytes) -> None:
    with pytest.raises(NormalizationError):
        run(P, raw)
