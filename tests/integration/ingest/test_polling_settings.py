"""Bad polling, silence and signing settings are field violations (issue 17)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2

from tests.integration.contracts.answers import violations
from tests.integration.ingest.conftest import Ingest
from triage.ingest.v1 import ingest_service_pb2 as api
from triage.ingest.v1 import resources_pb2 as pb

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"poll_interval": duration_pb2.Duration(seconds=120)}, "poll_interval"),
        ({"poll_interval": duration_pb2.Duration(seconds=7200)}, "poll_interval"),
        ({"silent_after": duration_pb2.Duration(seconds=60)}, "silent_after"),
        ({"webhook_signing_secret": "not-a-svix-secret"}, "webhook_signing_secret"),
        ({"webhook_signing_secret": "whsec_***"}, "webhook_signing_secret"),
    ],
)
async def test_out_of_range_settings_are_invalid_argument(
    ingest: Ingest, settings: dict[str, Any], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await ingest.stub.CreateIntegration(
            api.CreateIntegrationRequest(
                integration=pb.Integration(
                    provider=pb.PROVIDER_HUNTRESS,
                    display_name="Huntress",
                    settings=pb.IntegrationSettings(**settings),
                )
            ),
            metadata=ingest.md(),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(name.endswith(field) for name in violations(caught.value)), violations(caught.value)


async def test_secrets_are_never_shown_and_polling_follows_the_credentials(
    ingest: Ingest,
) -> None:
    integration_id, _ = await ingest.integration(
        "huntress",
        api=pb.ProviderApi(base_url="https://api.huntress.io", client_id="k", client_secret="s"),
        webhook_signing_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    reply = await ingest.stub.GetIntegration(
        api.GetIntegrationRequest(integration_id=integration_id), metadata=ingest.md()
    )
    settings = reply.integration.settings
    assert settings.webhook_signing_secret == "" and settings.has_webhook_signing_secret
    assert settings.api.client_secret == "" and settings.api.has_client_secret
    assert not settings.HasField("polling_enabled")
    caps = set(reply.integration.capabilities)
    assert {
        pb.PROVIDER_CAPABILITY_POLLING,
        pb.PROVIDER_CAPABILITY_OUTBOUND_RESET,
        pb.PROVIDER_CAPABILITY_HMAC_SIGNATURE,
    } <= caps
