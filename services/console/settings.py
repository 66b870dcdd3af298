"""The console's settings, from ``TRIAGE_*`` environment variables (read when asked)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from triage.mesh import DEFAULT_GRPC_PORTS, SERVICE_NAMES

DEFAULT_CONSOLE_PORT = 8090


def _default_peers() -> dict[str, str]:
    return {name: f"127.0.0.1:{port}" for name, port in DEFAULT_GRPC_PORTS.items()}


class ConsoleSettings(BaseSettings):
    """Where the console listens, which services it calls, and how it keeps sessions."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    console_host: str = "127.0.0.1"
    console_port: int = DEFAULT_CONSOLE_PORT
    #: ``host:port`` of each service's gRPC server (the same variables the services use).
    peers: dict[str, str] = Field(default_factory=_default_peers)
    #: Key for the session cookie (any string; hashed to a Fernet key). Empty: a random key
    #: per process, so sessions end with a restart (fine for one dev process, not for N).
    console_session_key: str = ""
    #: Secure cookies: "auto" follows the request's scheme (X-Forwarded-Proto behind an
    #: ingress), "always" or "never" force it.
    console_secure_cookies: str = "auto"
    #: Longest a session lives, whatever the token's own expiry says.
    console_session_hours: float = 12.0
    #: Public base URL of the webhook gateway, shown on the Integrations page.
    console_webhook_base: str = "http://127.0.0.1:8080"
    #: Per-call gRPC timeout, seconds.
    console_call_timeout: float = 10.0

    #: OIDC sign-in (authorization code + PKCE), on when issuer, client id and signing key
    #: are all set (README "The web console", docs/DECISIONS.md for the trade-off).
    console_oidc_issuer: str = ""
    console_oidc_client_id: str = ""
    #: Empty for a public client (PKCE alone); else sent as client_secret_post.
    console_oidc_client_secret: str = ""
    #: The callback URL registered with the provider; empty: this host's /oidc/callback.
    console_oidc_redirect_url: str = ""
    console_oidc_scopes: str = "openid email profile"
    #: Who gets which tenant and scopes: rules ``{"claim": "groups", "value": "acme-noc",
    #: "tenant_id": "<uuid>", "scopes": ["tickets:write", ...]}``; the first rule that
    #: matches names the tenant, every matching rule of that tenant adds its scopes.
    console_oidc_grants: list[dict[str, Any]] = Field(default_factory=list)
    #: The mesh's signing key (TRIAGE_AUTH_SIGNING_KEY) the console mints tokens with.
    console_oidc_signing_key: str = ""
    #: Lifetime of a minted mesh token (and so of an OIDC session), minutes.
    console_oidc_token_minutes: int = 60

    @property
    def oidc_enabled(self) -> bool:
        """Whether OIDC sign-in is configured."""
        return bool(
            self.console_oidc_issuer
            and self.console_oidc_client_id
            and self.console_oidc_signing_key
        )

    def address(self, service: str) -> str:
        """gRPC address of ``service`` (a configured peer, else its documented local port)."""
        if service not in SERVICE_NAMES:
            raise KeyError(service)
        return self.peers.get(service) or _default_peers()[service]
