"""Calendar use cases: create, read, list, change, delete, and holidays on a calendar."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.calendar_spec import CalendarSpec, HolidayRule
from services.sla.domain.stored import Stored
from services.sla.domain.violation import Violation
from services.sla.errors import (
    CalendarInUse,
    CalendarNotFound,
    HolidayNotFound,
    NameTaken,
    SlaInvalid,
)
from services.sla.service.base import UseCases
from services.sla.service.etags import check_version
from services.sla.store import calendars as store
from services.sla.store.requests import requests
from triage.runtime import IdempotentReply, is_uuid, once

M = TypeVar("M", bound=Message)


class CalendarCases(UseCases):
    """Business-hours calendars and their holidays."""

    @staticmethod
    def _check_calendar(spec: CalendarSpec, problems: Sequence[Violation]) -> None:
        bad = [*problems, *spec.validate()]
        if not bad:
            try:
                spec.business_calendar()
            except ValueError as exc:
                bad.append(Violation("calendar", str(exc)))
        if bad:
            raise SlaInvalid.of(bad)

    async def create_calendar(
        self,
        *,
        tenant_id: str,
        spec: CalendarSpec,
        problems: Sequence[Violation],
        answer: IdempotentReply[Stored[CalendarSpec], M],
    ) -> M:
        """Create a calendar (INVALID_ARGUMENT with field violations when malformed)."""
        self._check_calendar(spec, problems)

        async def work(session: AsyncSession) -> Stored[CalendarSpec]:
            now = self._time.now()
            try:
                await store.insert_calendar(session, tenant_id=tenant_id, spec=spec, at=now)
            except IntegrityError as exc:
                raise NameTaken(f"a calendar named {spec.name!r} exists") from exc
            return Stored(dataclasses.replace(spec, version=1), now, now)

        return await once(self._db, requests, tenant_id, answer, work)

    async def get_calendar(self, *, tenant_id: str, calendar_id: str) -> Stored[CalendarSpec]:
        """One calendar; NOT_FOUND for an unknown id or another tenant's."""
        async with self._db.transaction(tenant_id) as session:
            return await self._calendar(session, tenant_id, calendar_id)

    @staticmethod
    async def _calendar(
        session: AsyncSession, tenant_id: str, calendar_id: str, *, lock: bool = False
    ) -> Stored[CalendarSpec]:
        if not is_uuid(calendar_id):
            raise CalendarNotFound(f"calendar {calendar_id!r} not found")
        found = await store.get_calendar(
            session, tenant_id=tenant_id, calendar_id=calendar_id, lock=lock
        )
        if found is None:
            raise CalendarNotFound(f"calendar {calendar_id!r} not found")
        return found

    async def list_calendars(
        self, *, tenant_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Stored[CalendarSpec]]:
        """Calendars in creation order after a keyset position."""
        async with self._db.transaction(tenant_id) as session:
            return await store.list_calendars(
                session, tenant_id=tenant_id, after=after, limit=limit
            )

    async def update_calendar(
        self,
        *,
        tenant_id: str,
        patch: CalendarSpec,
        fields: Iterable[str],
        etag: str,
        problems: Sequence[Violation],
        answer: IdempotentReply[Stored[CalendarSpec], M],
    ) -> M:
        """Change the named fields; running clocks keep their snapshot."""
        names = set(fields)

        async def work(session: AsyncSession) -> Stored[CalendarSpec]:
            current = await self._calendar(session, tenant_id, patch.id, lock=True)
            check_version(etag, current.value.version)
            changed = dataclasses.replace(
                current.value,
                **{n: getattr(patch, n) for n in names},
                version=current.value.version + 1,
            )
            self._check_calendar(changed, problems)
            now = self._time.now()
            try:
                await store.replace_calendar(session, tenant_id=tenant_id, spec=changed, at=now)
            except IntegrityError as exc:
                raise NameTaken(f"a calendar named {changed.name!r} exists") from exc
            return Stored(changed, current.created_at, now)

        return await once(self._db, requests, tenant_id, answer, work)

    async def delete_calendar(
        self, *, tenant_id: str, calendar_id: str, etag: str, answer: IdempotentReply[None, M]
    ) -> M:
        """Delete a calendar; FAILED_PRECONDITION while a policy uses it."""

        async def work(session: AsyncSession) -> None:
            current = await self._calendar(session, tenant_id, calendar_id, lock=True)
            check_version(etag, current.value.version)
            if await store.calendar_in_use(session, tenant_id=tenant_id, calendar_id=calendar_id):
                raise CalendarInUse("a policy uses this calendar")
            await store.delete_calendar(session, tenant_id=tenant_id, calendar_id=calendar_id)

        return await once(self._db, requests, tenant_id, answer, work)

    async def add_holiday(
        self,
        *,
        tenant_id: str,
        calendar_id: str,
        holiday: HolidayRule,
        problems: Sequence[Violation],
        answer: IdempotentReply[tuple[HolidayRule, Stored[CalendarSpec]], M],
    ) -> M:
        """Add a holiday or closure to a calendar."""

        async def work(session: AsyncSession) -> tuple[HolidayRule, Stored[CalendarSpec]]:
            current = await self._calendar(session, tenant_id, calendar_id, lock=True)
            changed = dataclasses.replace(
                current.value,
                holidays=(*current.value.holidays, holiday),
                version=current.value.version + 1,
            )
            self._check_calendar(changed, problems)
            now = self._time.now()
            await store.replace_calendar(session, tenant_id=tenant_id, spec=changed, at=now)
            return holiday, Stored(changed, current.created_at, now)

        return await once(self._db, requests, tenant_id, answer, work)

    async def remove_holiday(
        self,
        *,
        tenant_id: str,
        calendar_id: str,
        holiday_id: str,
        answer: IdempotentReply[Stored[CalendarSpec], M],
    ) -> M:
        """Remove a holiday from a calendar."""

        async def work(session: AsyncSession) -> Stored[CalendarSpec]:
            current = await self._calendar(session, tenant_id, calendar_id, lock=True)
            kept = tuple(h for h in current.value.holidays if h.id != holiday_id)
            if len(kept) == len(current.value.holidays):
                raise HolidayNotFound(f"holiday {holiday_id!r} not found")
            changed = dataclasses.replace(
                current.value, holidays=kept, version=current.value.version + 1
            )
            now = self._time.now()
            await store.replace_calendar(session, tenant_id=tenant_id, spec=changed, at=now)
            return Stored(changed, current.created_at, now)

        return await once(self._db, requests, tenant_id, answer, work)
