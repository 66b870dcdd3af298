"""Whatever a sender crafts, a normalizer returns alerts or raises NormalizationError."""

import json
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.domain.alerts import NormalizationError, NormalizedAlert, Provider
from services.ingest.domain.normalizers import normalize

from .helpers import context

PROVIDERS = st.sampled_from(list(Provider))
ZONES = st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Bogus/Zone", ""])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["None", "True", "TRIGGERED", "RESET", "resolved", "firing", "1742391675.5"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
KNOWN_KEYS = st.sampled_from(
    [
        "id", "statusCode", "seriesUid", "deviceId", "device", "activityTime", "severity",
        "priority", "event", "alert_id", "agent_id", "alert_time", "resolved_on", "alertUid",
        "alertSourceInfo", "alertContext", "timestamp", "resolved", "event_type", "event_id",
        "data", "alerts", "labels", "status", "startsAt", "endsAt", "fingerprint",
        "commonLabels", "event_action", "dedup_key", "payload", "message", "subject",
    ]
)  # fmt: skip
SHAPED = st.recursive(
    st.dictionaries(KNOWN_KEYS, SCALARS, max_size=8),
    lambda inner: st.dictionaries(
        KNOWN_KEYS, inner | SCALARS | st.lists(inner, max_size=3), max_size=8
    ),
    max_leaves=30,
)


def _check(provider: Provider, raw: bytes, zone: str) -> None:
    try:
        alerts = normalize(provider, raw, None, context(provider, time_zone=zone))
    except NormalizationError:
        return
    for alert in alerts:
        assert isinstance(alert, NormalizedAlert)
        assert alert.series_key
        assert len(alert.title) <= 1024
        assert alert.occurred_at is None or alert.occurred_at.utcoffset() is not None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(provider=PROVIDERS, raw=st.binary(max_size=2048), zone=ZONES)
def test_arbitrary_bytes(provider: Provider, raw: bytes, zone: str) -> None:
    _check(provider, raw, zone)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(provider=PROVIDERS, value=JSON_VALUES | SHAPED, zone=ZONES, as_string=st.booleans())
def test_arbitrary_json(provider: Provider, value: object, zone: str, as_string: bool) -> None:
    text = json.dumps(value)
    raw = json.dumps(text).encode() if as_string else text.encode()
    _check(provider, raw, zone)


XML_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=200)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["DeviceName", "TaskIdent", "QualitativeNewState", "TimeOfStateChange", "CustomerName"]
        ),
        XML_TEXT,
    ),
    zone=ZONES,
)
def test_arbitrary_ncentral_fields(fields: dict[str, str], zone: str) -> None:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    _check(Provider.NCENTRAL, f"<notification>{inner}</notification>".encode(), zone)
