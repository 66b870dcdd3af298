"""Pure helpers that turn API values into what a page shows (no I/O, no requests)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

#: Keys whose values never reach a page (matched case-insensitively, anywhere in the key).
SECRET_KEY = re.compile(
    r"secret|token|password|passwd|api[_-]?key|apikey|authori[sz]ation|signature|"
    r"credential|private|cookie|session",
    re.IGNORECASE,
)
REDACTED = "••••••"
#: Bearer/basic credentials inside free text (URLs with user:pass, "Bearer xyz").
_INLINE_SECRET = re.compile(r"(?i)(bearer\s+|basic\s+|://[^/\s:@]+:)[^\s@\"']+")


def label(enum_type: Any, value: int, prefix: str) -> str:
    """``TICKET_STATUS_IN_PROGRESS`` -> ``In progress`` (empty for the zero value)."""
    try:
        name = str(enum_type.Name(value))
    except ValueError:
        return str(value)
    if name.endswith("_UNSPECIFIED"):
        return ""
    return name.removeprefix(prefix).replace("_", " ").capitalize()


def slug(enum_type: Any, value: int, prefix: str) -> str:
    """``PRIORITY_P1`` -> ``p1``: a value for CSS classes and form fields."""
    try:
        return str(enum_type.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        return ""


def when(stamp: Any) -> datetime | None:
    """A protobuf Timestamp as an aware UTC datetime (None when unset)."""
    if stamp is None or (not stamp.seconds and not stamp.nanos):
        return None
    return datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, UTC)


def show_time(moment: datetime | None) -> str:
    """``2026-03-19 14:01Z`` (empty when None)."""
    return moment.strftime("%Y-%m-%d %H:%MZ") if moment else ""


def iso(moment: datetime | None) -> str:
    """ISO 8601 in UTC, for ``<time datetime>`` and the live countdown (empty when None)."""
    return moment.isoformat().replace("+00:00", "Z") if moment else ""


def duration_text(seconds: float) -> str:
    """``3d 4h``, ``2h 05m``, ``4m 10s``, ``12s``: the two largest units."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@dataclass(frozen=True)
class Badge:
    """An SLA badge: its state (a CSS class), its words, and the instant it counts to."""

    state: str
    text: str
    due: str = ""
    kind: str = ""


def sla_badge(clocks: list[dict[str, Any]], now: datetime) -> Badge:
    """The badge for a ticket's clocks: the most urgent running or breached target.

    ``clocks`` are plain dicts (``kind``, ``state``, ``due``, ``percent``); breached wins,
    then the running clock due first; paused and met clocks show when nothing runs.
    """
    if not clocks:
        return Badge("none", "no SLA")
    breached = [c for c in clocks if c["state"] == "breached"]
    if breached:
        c = breached[0]
        late = (now - c["due"]).total_seconds() if c.get("due") else 0
        return Badge(
            "breached", f"breached {duration_text(late)} ago", iso(c.get("due")), c["kind"]
        )
    running = sorted(
        (c for c in clocks if c["state"] == "running" and c.get("due")), key=lambda c: c["due"]
    )
    if running:
        c = running[0]
        left = (c["due"] - now).total_seconds()
        state = "warn" if c.get("percent", 0) >= 75 or left < 900 else "ok"
        return Badge(state, f"{duration_text(left)} left", iso(c["due"]), c["kind"])
    if any(c["state"] == "paused" for c in clocks):
        return Badge("paused", "SLA paused")
    if any(c["state"] == "cancelled" for c in clocks):
        # Merged into another ticket: no outcome here, so never shown as met.
        return Badge("cancelled", "SLA cancelled (merged)")
    return Badge("met", "SLA met")


def redact(value: Any) -> Any:
    """A copy of JSON-like ``value`` with every secret-looking key's value replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if SECRET_KEY.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _INLINE_SECRET.sub(lambda m: m.group(1) + REDACTED, value)
    return value


def pretty_payload(raw: bytes, content_type: str) -> str:
    """A raw webhook body for display: JSON pretty-printed and redacted; other text as is
    with inline credentials masked; binary summarized."""
    if not raw:
        return ""
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type.lower() or text.lstrip()[:1] in "{[":
        try:
            return json.dumps(redact(json.loads(text)), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    if "\ufffd" in text:
        return f"({len(raw)} bytes of {content_type or 'binary data'})"
    lines = []
    for line in text.splitlines():
        key, sep, _ = line.partition("=")
        masked = f"{key}{sep}{REDACTED}" if sep and SECRET_KEY.search(key) else line
        lines.append(redact(masked))
    return "\n".join(lines)


def as_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data, proto field names, secrets redacted."""
    data = json_format.MessageToDict(message, preserving_proto_field_name=True)
    redacted: dict[str, Any] = redact(data)
    return redacted
