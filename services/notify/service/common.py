"""What every notify use case shares: the clock and channel secrets sealed at rest."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from services.notify.domain.channel import ChannelSpec
from services.notify.domain.model import ChannelKind
from services.notify.domain.records import ChannelRow
from triage.runtime import SecretBox

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current instant in UTC."""
    return datetime.now(UTC)


def channel_aad(tenant_id: str, channel_id: str) -> bytes:
    """Associated data binding sealed secrets to their tenant and channel."""
    return f"notify.channel:{tenant_id}:{channel_id}".encode()


def seal(box: SecretBox, tenant_id: str, channel_id: str, secrets: Mapping[str, str]) -> bytes:
    """Encrypt a channel's secrets."""
    raw = json.dumps(dict(secrets), sort_keys=True).encode()
    return box.encrypt(raw, associated_data=channel_aad(tenant_id, channel_id))


def unseal(box: SecretBox, tenant_id: str, channel_id: str, blob: bytes) -> dict[str, str]:
    """Decrypt a channel's secrets."""
    raw = box.decrypt(bytes(blob), associated_data=channel_aad(tenant_id, channel_id))
    data: dict[str, str] = json.loads(raw)
    return data


def spec_of(box: SecretBox, row: ChannelRow) -> ChannelSpec:
    """The spec of a stored channel row, secrets decrypted."""
    return ChannelSpec(
        display_name=row.display_name,
        kind=ChannelKind(row.kind),
        config=dict(row.config),
        secrets=unseal(box, str(row.tenant_id), str(row.id), row.secrets),
        disabled=row.disabled,
        quiet_hours=row.quiet_hours,
        rate_limit=row.rate_limit,
        digest=row.digest,
        template=row.template,
        default=row.is_default,
    )
