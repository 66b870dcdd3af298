"""Outbound resets through the poll clients' ``resolve`` (Tactical RMM, Level,
Huntress): the poll client already speaks each API; this adapts it to ResetClient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from services.ingest.clients.poll import (
    PermanentPollError,
    PollCredentials,
    PollError,
    RateLimited,
    client_for,
)
from services.ingest.clients.resets import IntegrationApi
from services.ingest.domain.reset_policy import ResetResult, Verdict

#: Providers whose outbound reset is the poll client's resolve.
RESOLVING_PROVIDERS = ("tacticalrmm", "level", "huntress")


class PollResolveClient:
    """Resets an alert with the provider's poll client (its alert id is ``source_ref``)."""

    def __init__(self, provider: str) -> None:
        """A reset client for ``provider``."""
        self.provider = provider

    async def reset(
        self, alert_row: Mapping[str, Any], integration_api: IntegrationApi, http: httpx.AsyncClient
    ) -> ResetResult:
        """Resolve the alert; transport failures and 429/5xx come back as RETRY."""
        alert_id = alert_row.get("source_ref")
        if not alert_id:
            return ResetResult(
                Verdict.PERMANENT, 0, f"the alert carries no {self.provider} alert id"
            )
        try:
            client = client_for(
                self.provider,
                PollCredentials(
                    integration_api.base_url,
                    integration_api.client_id,
                    integration_api.client_secret,
                ),
                http,
            )
            await client.resolve(str(alert_id))
        except RateLimited as exc:
            return ResetResult(Verdict.RETRY, 429, str(exc), exc.retry_after_seconds)
        except PermanentPollError as exc:
            return ResetResult(Verdict.PERMANENT, exc.status or 0, str(exc))
        except PollError as exc:
            return ResetResult(Verdict.RETRY, exc.status or 0, str(exc), exc.retry_after_seconds)
        return ResetResult(Verdict.SUCCEEDED, 200, "resolved")


def resolving_clients() -> dict[str, PollResolveClient]:
    """A reset client for each provider whose reset is its poll client's resolve."""
    return {provider: PollResolveClient(provider) for provider in RESOLVING_PROVIDERS}
