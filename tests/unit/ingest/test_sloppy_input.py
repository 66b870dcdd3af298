import json

import pytest

from services.ingest.domain.alerts import AlertKind, NormalizationError, Provider
from services.ingest.domain.normalizers.text import bounded_key, clean, decode, to_bool, truncate

from .helpers import run


@pytest.mark.parametrize("value", [None, "None", "none", " ", "", "null", "\x00", [], {}])
def test_none_literals_clean_to_none(value: object) -> None:
    assert clean(value) is None


def test_clean_scalars() -> None:
    assert clean(42) == "42"
    assert clean(42.0) == "42"
    assert clean(True) == "true"
    assert clean(" a\x00b ") == "ab"
    assert clean("\ud800x") == "\ufffdx"


def test_booleans_as_text() -> None:
    assert to_bool("True") is True
    assert to_bool("False") is False
    assert to_bool("None") is None


def test_decode_never_raises_and_keeps_valid_utf8() -> None:
    assert decode("Café".encode()) == "Café"
    assert decode("Café".encode("cp1252")) == "Café"
    mixed = "naïve ".encode() + "Größe".encode("cp1252")
    assert decode(mixed) == "naïve Größe"
    assert decode(b"\x81\xff") == "\ufffdÿ"
    assert decode(b"\xef\xbb\xbf{}") == "{}"


def test_truncate_and_bounded_key() -> None:
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 4) == "abc"
    long = "k" * 1000
    assert len(bounded_key(long)) == 255
    assert bounded_key(long) != bounded_key(long[:-1] + "x")


def test_non_utf8_json_body_normalizes() -> None:
    raw = '{"event": "trigger", "agent_id": "A1", "message": "Fehler: Größe"}'.encode("cp1252")
    (alert,) = run(Provider.TACTICALRMM, raw)
    assert alert.message == "Fehler: Größe"


def test_missing_device_is_kept_not_rejected() -> None:
    (alert,) = run(
        Provider.DATTO, b'{"alert_uid": "u1", "alert_message": "x", "device_id": "None"}'
    )
    assert alert.device_id is None
    assert alert.series_key == "u1"


def test_windows_paths_and_big_multiline_output() -> None:
    output = "\n".join(f"C:\\Program Files\\App\\log{i}.txt: ERROR line {i}" for i in range(4000))
    raw = json.dumps(
        {
            "event_action": "trigger",
            "dedup_key": "k",
            "payload": {"summary": "s", "custom_details": output},
        }
    ).encode()
    (alert,) = run(Provider.GENERIC, raw)
    assert "C:\\Program Files\\App\\log3999.txt" in alert.message
    assert alert.message.count("\n") >= 4000
    assert alert.title == "s"


def test_long_title_is_one_line_and_bounded() -> None:
    raw = json.dumps({"statusCode": "TRIGGERED", "subject": "x" * 5000 + "\nsecond"}).encode()
    (alert,) = run(Provider.NINJAONE, raw)
    assert len(alert.title) == 1024
    assert "\n" not in alert.title


def test_wrong_types_in_fields_are_tolerated() -> None:
    raw = json.dumps(
        {"statusCode": ["TRIGGERED"], "deviceId": {"x": 1}, "device": "FS01", "activityTime": {}}
    ).encode()
    (alert,) = run(Provider.NINJAONE, raw)
    assert alert.kind is AlertKind.INFO
    assert alert.device_id is None


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"42", b'"x"', b"[1, 2]", b"null"])
@pytest.mark.parametrize(
    "provider", [p for p in Provider if p not in (Provider.NCENTRAL, Provider.TACTICALRMM)]
)
def test_unparseable_json_bodies_raise_normalization_error(provider: Provider, raw: bytes) -> None:
    with pytest.raises(NormalizationError):
        run(provider, raw)


def test_unknown_provider() -> None:
    with pytest.raises(NormalizationError) as info:
        run("nope", b"{}")  # type: ignore[arg-type]
    assert info.value.field == "provider"


def test_provider_may_be_given_as_text() -> None:
    (alert,) = run("level", b'{"event_type": "alert_active", "data": {"id": "a1"}}')  # type: ignore[arg-type]
    assert alert.series_key == "a1"
