"""Silent sources: an integration that has sent nothing for too long raises its own
alert (device = the integration, condition "source silent"); the next thing it sends
resets it. Pure decisions; the sweep lives in workers/silence.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.ingest.domain.alerts import AlertKind, NormalizedAlert, Severity
from services.ingest.domain.polling import ORIGIN_LABEL, RESET_ORIGIN_LABEL, duration_seconds

#: The default for an integration that has sent at least once: a day of silence.
DEFAULT_SILENT_AFTER = timedelta(hours=24)
MIN_SILENT_AFTER = timedelta(minutes=15)
CONDITION = "source silent"
#: The reset's ``triage.reset_origin``: tickets comments "the source is sending again".
SOURCE_SENDING = "source_sending"


def silent_after(settings: Mapping[str, Any]) -> timedelta | None:
    """How long the integration may stay silent; None when silence alerts are off."""
    if settings.get("silence_alerts_disabled") is True:
        return None
    seconds = duration_seconds(settings.get("silent_after"))
    if seconds is None:
        return DEFAULT_SILENT_AFTER
    return max(timedelta(seconds=seconds), MIN_SILENT_AFTER)


def is_silent(*, settings: Mapping[str, Any], last_contact: datetime | None, now: datetime) -> bool:
    """Whether an integration that is not yet reported silent should be: it has sent
    at least once (never-used integrations are not alerted) and not for the period."""
    period = silent_after(settings)
    return period is not None and last_contact is not None and now - last_contact >= period


def series_key(integration_id: str) -> str:
    """The series of an integration's silence alerts."""
    return f"source-silent:{integration_id}"


def silence_alert(
    *,
    kind: AlertKind,
    integration_id: str,
    display_name: str,
    last_contact: datetime | None,
    at: datetime,
) -> NormalizedAlert:
    """The trigger (gone silent) or reset (heard again) of an integration's silence."""
    since = f"{last_contact:%Y-%m-%d %H:%M:%SZ}" if last_contact else "never"
    labels = {ORIGIN_LABEL: "silence"}
    if kind is AlertKind.TRIGGER:
        title = f"Source silent: {display_name} has sent nothing since {since}"
        message = (
            f"The integration {display_name} has delivered no webhook and no successful poll "
            f"since {since}. Check the RMM's webhook configuration and the API credentials."
        )
    else:
        title = f"Source heard again: {display_name}"
        message = f"The integration {display_name} is delivering again."
        labels[RESET_ORIGIN_LABEL] = SOURCE_SENDING
    return NormalizedAlert(
        kind=kind,
        series_key=series_key(integration_id),
        condition=CONDITION,
        severity=Severity.HIGH,
        title=title[:1024],
        message=message,
        device_id=integration_id,
        device_name=display_name,
        labels=labels,
        occurred_at=at,
    )


def delivery_key(kind: AlertKind, integration_id: str, moment: datetime) -> str:
    """One trigger per silence (keyed by the last contact) and one reset per silence
    (keyed by when it was raised), whichever replica writes it."""
    return f"silence:{integration_id}:{moment.isoformat()}:{kind.value}"
