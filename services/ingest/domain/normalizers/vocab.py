"""Shared vocabularies: words that mean a lifecycle kind or a severity."""

from __future__ import annotations

from collections.abc import Mapping

from services.ingest.domain.alerts import AlertKind, Severity

_KIND_WORDS: Mapping[str, AlertKind] = {
    **dict.fromkeys(
        (
            "trigger", "triggered", "failure", "failed", "fail", "failing", "firing",
            "fire", "alert", "alerting", "open", "opened", "create", "created", "raise",
            "raised", "active", "problem", "down",
        ),
        AlertKind.TRIGGER,
    ),
    **dict.fromkeys(
        (
            "reset", "resolve", "resolved", "resolution", "recover", "recovered",
            "recovery", "ok", "close", "closed", "clear", "cleared", "normal", "up", "passing",
        ),
        AlertKind.RESET,
    ),
    **dict.fromkeys(
        ("ack", "acked", "acknowledge", "acknowledged"), AlertKind.ACKNOWLEDGE
    ),
    **dict.fromkeys(("info", "information", "informational", "notice"), AlertKind.INFO),
}  # fmt: skip

_SEVERITY_WORDS: Mapping[str, Severity] = {
    **dict.fromkeys(
        ("critical", "crit", "fatal", "emergency", "emerg", "disaster", "page", "p1", "5"),
        Severity.CRITICAL,
    ),
    **dict.fromkeys(
        ("high", "major", "error", "err", "failed", "failure", "alert", "p2", "4"),
        Severity.HIGH,
    ),
    **dict.fromkeys(
        ("medium", "moderate", "warning", "warn", "average", "p3", "3"), Severity.MEDIUM
    ),
    **dict.fromkeys(("low", "minor", "notice", "p4", "2"), Severity.LOW),
    **dict.fromkeys(
        (
            "info", "information", "informational", "none", "ok", "normal", "debug",
            "p5", "1", "0",
        ),
        Severity.INFO,
    ),
}  # fmt: skip


def kind_from_word(word: str | None) -> AlertKind | None:
    """The lifecycle kind a status word such as "resolved" or "TRIGGERED" names."""
    if word is None:
        return None
    return _KIND_WORDS.get(word.strip().lower().replace("-", "_").removeprefix("alert_"))


def severity_from_word(word: str | None) -> Severity | None:
    """The severity a word such as "warning", "MAJOR" or "Critical" names."""
    if word is None:
        return None
    return _SEVERITY_WORDS.get(word.strip().lower())
