"""An issued token's metadata (never the token itself)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What IssueToken signed: its ``jti`` (``id``), tenant, subject, scopes and life."""

    id: str
    tenant_id: str | None
    subject: str
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None

    def revoked(self) -> bool:
        """Whether the token was revoked."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A token IssueToken just signed (``token``, handed out, never stored in clear) and
    the metadata recorded for it."""

    token: str
    issued: IssuedToken
