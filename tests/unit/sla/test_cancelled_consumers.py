"""Who takes ``sla.cancelled``: tickets' escalations never receive it; notify's SLA
consumer does (a policy may select it), and decodes it."""

from __future__ import annotations

import uuid

from services.notify.events import CONSUMERS, notifiable
from services.tickets.events import SLA_SUBJECTS
from triage.runtime import new_envelope
from triage.runtime.events import envelope_subject
from triage.sla.v1 import events_pb2 as sev

TENANT = str(uuid.uuid4())


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for n, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > n
        if n >= len(tokens) or token not in ("*", tokens[n]):
            return False
    return len(tokens) == len(wanted)


def _cancelled() -> str:
    return envelope_subject(
        new_envelope(
            tenant_id=TENANT,
            event_type="sla.cancelled",
            payload=sev.SlaCancelled(),
            producer="sla",
            ordering_key=str(uuid.uuid4()),
        )
    )


def test_the_matcher_sees_the_subjects_the_consumers_do_take() -> None:
    breached = _cancelled().replace(".cancelled.", ".breached.")
    assert any(_matches(p, breached) for p in SLA_SUBJECTS)
    assert _matches("triage.sla.breached.*.*", breached)


def test_only_notify_subscribes_to_sla_cancelled() -> None:
    subject = _cancelled()
    assert subject.startswith(f"triage.sla.cancelled.{TENANT}.")
    assert not [p for p in SLA_SUBJECTS if _matches(p, subject)]
    notify = [p.format(tenant="*") for p in CONSUMERS["notify-sla"]]
    # notify's filters name the tenant token only; the partition token follows it.
    notify += [f"{p}.*" for p in notify if not p.endswith(">")]
    assert [p for p in notify if _matches(p, subject)]


def test_notify_decodes_an_sla_cancelled() -> None:
    envelope = new_envelope(
        tenant_id=TENANT,
        event_type="sla.cancelled",
        payload=sev.SlaCancelled(reason=sev.SLA_CANCEL_REASON_MERGED),
        producer="sla",
    )
    assert notifiable(envelope) is not None
