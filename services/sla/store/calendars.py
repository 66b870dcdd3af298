"""Business-hours calendars and their holidays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.calendar_spec import (
    CalendarSpec,
    HolidayRule,
    HolidaySetRule,
    shift_from_json,
    shift_to_json,
)
from services.sla.domain.stored import Stored
from services.sla.models import (
    calendars,
    holidays,
    policies,
)
from services.sla.store.sql import after_position


def _time_or_none(text: str | None) -> time | None:
    return None if text is None else time.fromisoformat(text)


def _holiday_values(tenant_id: str, calendar_id: str, holiday: HolidayRule) -> dict[str, Any]:
    return {
        "id": holiday.id,
        "tenant_id": tenant_id,
        "calendar_id": calendar_id,
        "display_name": holiday.name,
        "day": holiday.day,
        "yearly_month": holiday.yearly[0] if holiday.yearly else None,
        "yearly_day": holiday.yearly[1] if holiday.yearly else None,
        "closed_start": holiday.closed_start.isoformat() if holiday.closed_start else None,
        "closed_end": holiday.closed_end.isoformat() if holiday.closed_end else None,
    }


def _holiday(row: Any) -> HolidayRule:
    return HolidayRule(
        id=row.id,
        name=row.display_name,
        day=row.day,
        yearly=(row.yearly_month, row.yearly_day) if row.yearly_month else None,
        closed_start=_time_or_none(row.closed_start),
        closed_end=_time_or_none(row.closed_end),
    )


def _calendar(row: Any, rules: Sequence[HolidayRule]) -> Stored[CalendarSpec]:
    spec = CalendarSpec(
        id=row.id,
        name=row.display_name,
        zone=row.time_zone,
        always_open=row.always_open,
        shifts=tuple(shift_from_json(s) for s in row.shifts),
        holidays=tuple(rules),
        holiday_sets=tuple(
            HolidaySetRule(h["country"], h["subdivision"], tuple(h["categories"]))
            for h in row.holiday_sets
        ),
        version=row.version,
    )
    return Stored(spec, row.created_at, row.updated_at)


def _calendar_values(spec: CalendarSpec) -> dict[str, Any]:
    return {
        "display_name": spec.name,
        "time_zone": spec.zone,
        "always_open": spec.always_open,
        "shifts": [shift_to_json(s) for s in spec.shifts],
        "holiday_sets": [
            {"country": h.country, "subdivision": h.subdivision, "categories": list(h.categories)}
            for h in spec.holiday_sets
        ],
    }


async def insert_calendar(
    session: AsyncSession, *, tenant_id: str, spec: CalendarSpec, at: datetime
) -> None:
    """Insert a calendar (version 1) with its holidays."""
    await session.execute(
        calendars.insert().values(
            id=spec.id,
            tenant_id=tenant_id,
            version=1,
            created_at=at,
            updated_at=at,
            **_calendar_values(spec),
        )
    )
    await _insert_holidays(session, tenant_id, spec.id, spec.holidays)


async def _insert_holidays(
    session: AsyncSession, tenant_id: str, calendar_id: str, rules: Sequence[HolidayRule]
) -> None:
    if rules:
        await session.execute(
            holidays.insert(), [_holiday_values(tenant_id, calendar_id, h) for h in rules]
        )


async def _holidays_of(
    session: AsyncSession, tenant_id: str, calendar_ids: Sequence[str]
) -> dict[str, list[HolidayRule]]:
    found: dict[str, list[HolidayRule]] = {c: [] for c in calendar_ids}
    if not calendar_ids:
        return found
    rows = await session.execute(
        select(holidays)
        .where(holidays.c.tenant_id == tenant_id, holidays.c.calendar_id.in_(calendar_ids))
        .order_by(holidays.c.seq)
    )
    for row in rows:
        found[row.calendar_id].append(_holiday(row))
    return found


async def get_calendar(
    session: AsyncSession, *, tenant_id: str, calendar_id: str, lock: bool = False
) -> Stored[CalendarSpec] | None:
    """One calendar with its holidays (``lock``: FOR UPDATE)."""
    query = select(calendars).where(
        calendars.c.tenant_id == tenant_id, calendars.c.id == calendar_id
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    return _calendar(row, (await _holidays_of(session, tenant_id, [calendar_id]))[calendar_id])


async def list_calendars(
    session: AsyncSession, *, tenant_id: str, after: tuple[datetime, str] | None, limit: int
) -> list[Stored[CalendarSpec]]:
    """Calendars in creation order after the keyset position ``after``."""
    query = select(calendars).where(calendars.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(after_position(calendars.c.created_at, calendars.c.id, after))
    rows = (
        await session.execute(query.order_by(calendars.c.created_at, calendars.c.id).limit(limit))
    ).all()
    rules = await _holidays_of(session, tenant_id, [r.id for r in rows])
    return [_calendar(r, rules[r.id]) for r in rows]


async def replace_calendar(
    session: AsyncSession, *, tenant_id: str, spec: CalendarSpec, at: datetime
) -> None:
    """Store ``spec`` (its version already bumped) and its holidays in place of the old."""
    await session.execute(
        update(calendars)
        .where(calendars.c.tenant_id == tenant_id, calendars.c.id == spec.id)
        .values(version=spec.version, updated_at=at, **_calendar_values(spec))
    )
    await session.execute(
        delete(holidays).where(holidays.c.tenant_id == tenant_id, holidays.c.calendar_id == spec.id)
    )
    await _insert_holidays(session, tenant_id, spec.id, spec.holidays)


async def delete_calendar(session: AsyncSession, *, tenant_id: str, calendar_id: str) -> None:
    """Delete a calendar (its holidays go with it)."""
    await session.execute(
        delete(calendars).where(calendars.c.tenant_id == tenant_id, calendars.c.id == calendar_id)
    )


async def calendar_in_use(session: AsyncSession, *, tenant_id: str, calendar_id: str) -> bool:
    """Whether a policy uses the calendar."""
    found = await session.execute(
        select(policies.c.id)
        .where(policies.c.tenant_id == tenant_id, policies.c.calendar_id == calendar_id)
        .limit(1)
    )
    return found.first() is not None
