"""Property tests: no body, header or size makes the gateway answer 5xx or store half an alert.

The gateway runs as a real child process; hypothesis and schemathesis drive it over HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.ingest.process import IngestProcess, ingest_process

pytestmark = pytest.mark.integration

PROVIDERS = ("ninjaone", "tacticalrmm", "datto", "level", "alertmanager", "generic", "ncentral")
CONTENT_TYPES = (
    "application/json",
    "text/plain",
    "application/xml",
    "",
    "application/json; charset=latin-1",
    "multipart/form-data",
    "application/octet-stream",
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "statusCode",
                    "seriesUid",
                    "activityTime",
                    "event_action",
                    "dedup_key",
                    "alerts",
                    "status",
                    "labels",
                    "event_type",
                    "data",
                    "payload",
                    "deviceId",
                    "alertUid",
                    "event",
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=3000),
    json_values.map(lambda v: orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)),
    st.text(max_size=500).map(str.encode),
)


@pytest.fixture(scope="module")
def gateway(pg_url: str, nats_url: str) -> Iterator[IngestProcess]:
    """One ingest process for the module."""
    with ingest_process(pg_url, nats_url) as process:
        yield process


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    provider=st.sampled_from(PROVIDERS),
    body=bodies,
    content_type=st.sampled_from(CONTENT_TYPES),
    auth=st.sampled_from(["header", "bearer", "query", "wrong", "none", "hmac"]),
    extra_header=st.tuples(
        st.sampled_from(["x-level-signature", "content-length", "x-junk"]), st.text(max_size=30)
    ),
)
def test_no_input_makes_the_gateway_fail_or_store_half(
    gateway: IngestProcess,
    provider: str,
    body: bytes,
    content_type: str,
    auth: str,
    extra_header: tuple[str, str],
) -> None:
    integration_id, secret = gateway.integrations[provider]
    headers = {"content-type": content_type} if content_type else {}
    params = {}
    if auth == "header":
        headers["x-triage-secret"] = secret
    elif auth == "bearer":
        headers["authorization"] = f"Bearer {secret}"
    elif auth == "query":
        params["token"] = secret
    elif auth == "wrong":
        headers["x-triage-secret"] = secret[:-1] + "x"
    elif auth == "hmac":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["x-level-signature"] = f"sha256={digest}"
    name, value = extra_header
    if name != "content-length" and value.isascii() and value.isprintable():
        headers.setdefault(name, value)
    before = gateway.stored_alert_ids()
    response = httpx.post(
        f"{gateway.http_url}/v1/webhooks/{provider}/{integration_id}",
        content=body,
        headers=headers,
        params=params,
        timeout=10,
    )
    after = gateway.stored_alert_ids()
    assert response.status_code < 500, response.text
    if response.status_code == 202:
        answered = set(response.json()["alert_ids"])
        assert answered <= after
        assert after - before <= answered
    else:
        assert response.headers["content-type"] == "application/problem+json"
        assert after == before


def test_gateway_conforms_to_its_openapi_document(gateway: IngestProcess) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway.http_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert {op.path for op in operations} >= {"/v1/webhooks/{provider}/{integration_id}"}
    for operation in operations:

        @settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def conforms(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            case.call_and_validate()

        conforms()
