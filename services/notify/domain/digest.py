"""Digest: a burst of held messages becomes one summary message."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC

from services.notify.domain.model import NotificationMessage, Severity

DIGEST_EVENT_TYPE = "notify.digest"


def digest_event_id(messages: Sequence[NotificationMessage]) -> str:
    """Deterministic id of a digest over these messages, whatever their order.

    A worker that crashes after sending and rebuilds the same digest gets the same
    id, hence the same idempotency key.
    """
    ids = sorted({m.event_id for m in messages})
    return "digest-" + hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]


def build_digest(
    messages: Sequence[NotificationMessage], *, max_lines: int = 20
) -> NotificationMessage:
    """Summarise held messages of one tenant into one message.

    The summary carries the highest severity, the most urgent (lowest) priority and
    the latest occurrence time; its body lists the messages oldest first, at most
    `max_lines` of them, and says how many more there were.
    """
    if not messages:
        raise ValueError("a digest needs at least one message")
    tenants = {m.tenant_id for m in messages}
    if len(tenants) != 1:
        raise ValueError("a digest cannot mix tenants")
    if max_lines < 1:
        raise ValueError("max_lines must be >= 1")
    ordered = sorted(messages, key=lambda m: (m.occurred_at.astimezone(UTC), m.event_id))
    severity = max(m.severity for m in ordered)
    priorities = [m.priority for m in ordered if m.priority is not None]
    counts = Counter(m.severity for m in ordered)
    breakdown = ", ".join(
        f"{counts[level]} {Severity(level).name.lower()}" for level in sorted(counts, reverse=True)
    )
    lines = [
        f"- [{m.severity_label}] {m.title} ({m.occurred_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
        for m in ordered[:max_lines]
    ]
    if len(ordered) > max_lines:
        lines.append(f"... and {len(ordered) - max_lines} more")
    noun = "notification" if len(ordered) == 1 else "notifications"
    return NotificationMessage(
        event_id=digest_event_id(ordered),
        event_type=DIGEST_EVENT_TYPE,
        tenant_id=ordered[0].tenant_id,
        occurred_at=ordered[-1].occurred_at,
        severity=severity,
        priority=min(priorities) if priorities else None,
        title=f"{len(ordered)} {noun} ({breakdown})",
        body="\n".join(lines),
        fields={"count": str(len(ordered))},
    )


def flush_held(
    messages: Sequence[NotificationMessage], *, max_lines: int = 20
) -> NotificationMessage:
    """What to send when held messages are released: the message itself, or a digest."""
    if len(messages) == 1:
        return messages[0]
    return build_digest(messages, max_lines=max_lines)
