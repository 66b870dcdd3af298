"""Silent sources: raise an integration's "source silent" alert, reset it when the
integration is heard again. Both go through the alert writer like any webhook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.ingest.domain.alerts import AlertKind
from services.ingest.domain.records import RawBody
from services.ingest.domain.silence import delivery_key, is_silent, silence_alert
from services.ingest.service.base import ServiceBase
from services.ingest.service.intake import new_record
from services.ingest.store.silence import (
    SilenceCandidate,
    set_silent_since,
    silence_candidates,
)
from triage.runtime import new_id


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep did."""

    raised: int
    cleared: int


class SilenceUseCases(ServiceBase):
    """The silent-source sweep."""

    async def sweep_silence(
        self, *, limit: int = 500, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> SweepResult:
        """Raise or clear the silence alerts that are due.

        The alert is stored first (its delivery key makes a second replica's copy a
        duplicate), then ``silent_since`` moves, only if nobody moved it meanwhile.
        """
        async with self.db.system_transaction() as session:
            candidates = await silence_candidates(session, limit=limit)
        raised = cleared = 0
        at = now()
        for candidate in candidates:
            if candidate.silent_since is None:
                if is_silent(
                    settings=candidate.settings, last_contact=candidate.last_contact, now=at
                ):
                    assert candidate.last_contact is not None
                    await self._store(candidate, AlertKind.TRIGGER, candidate.last_contact, at)
                    raised += await self._move(candidate, at)
            else:
                await self._store(candidate, AlertKind.RESET, candidate.silent_since, at)
                cleared += await self._move(candidate, None)
        return SweepResult(raised, cleared)

    async def _store(
        self, candidate: SilenceCandidate, kind: AlertKind, moment: datetime, at: datetime
    ) -> None:
        alert = silence_alert(
            kind=kind,
            integration_id=candidate.integration_id,
            display_name=candidate.display_name,
            last_contact=candidate.last_contact,
            at=at,
        )
        record = new_record(
            tenant_id=candidate.tenant_id,
            integration_id=candidate.integration_id,
            provider=candidate.provider,
            delivery_key=delivery_key(kind, candidate.integration_id, moment),
            received_at=at,
            content_type=None,
            body=RawBody(id=new_id(), raw=b""),
            alert=alert,
        )
        await self.writer.write([replace(record, from_source=False)])

    async def _move(self, candidate: SilenceCandidate, value: datetime | None) -> int:
        async with self.db.system_transaction() as session:
            moved = await set_silent_since(
                session, candidate.integration_id, expected=candidate.silent_since, value=value
            )
        return int(moved)
