"""Maintenance windows CRUD: create, read, list, update, end early and delete.

A change to a window wakes the window-end worker (after commit) and makes the series the
window held due for re-evaluation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain import CompiledWindow, Violation, WindowScope, validate_window
from services.rules.domain.drafts import WindowDraft
from services.rules.domain.records import WindowRecord, etag, window_of, zone_or_utc
from services.rules.domain.stored import compile_stored_windows
from services.rules.domain.views import WindowPage, WindowState, WindowView
from services.rules.errors import EtagMismatch, WindowNotFound
from services.rules.service.clock import Clock
from services.rules.service.common import canonical_uuid, invalid
from services.rules.service.compiled import window_of_record
from services.rules.service.decoding import Decoder
from services.rules.service.references import check_window
from services.rules.store import windows as store
from services.rules.store.requests import requests
from services.rules.store.settings import bump_version, get_settings
from triage.runtime import (
    Database,
    IdempotentReply,
    References,
    after_commit,
    check_etag,
    decode_page_token,
    encode_page_token,
    new_id,
    once,
    page_of,
    page_size,
)

M = TypeVar("M", bound=Message)
#: The states a list shows unless the caller names some.
LISTED_BY_DEFAULT = frozenset({"scheduled", "active"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stale() -> EtagMismatch:
    return EtagMismatch("the resource changed since it was read; read it again")


def window_state(
    compiled: CompiledWindow, at: datetime
) -> tuple[WindowState, datetime | None, datetime | None]:
    """(state, next start, current end) of a compiled window at ``at``."""
    occurrence = compiled.occurrence_at(at)
    if occurrence is not None:
        return "active", None, occurrence[1]
    _, valid_until, _ = compiled.state(at, at.timestamp())
    if valid_until == float("inf"):
        return "ended", None, None
    return "scheduled", datetime.fromtimestamp(valid_until, tz=at.tzinfo), None


def _overlaps(compiled: CompiledWindow, start: datetime, end: datetime) -> bool:
    if compiled.occurrence_at(start) is not None:
        return True
    _, valid_until, _ = compiled.state(start, start.timestamp())
    return bool(valid_until < end.timestamp())


def sort_time(at: datetime | None) -> str:
    """An instant as RFC 3339 in UTC, as list keys (and page tokens) have always spelled it:
    whole seconds bare, else milliseconds or microseconds (none: the epoch)."""
    utc = (at or _EPOCH).astimezone(UTC).replace(tzinfo=None)
    micros = utc.microsecond
    base = utc.replace(microsecond=0).isoformat()
    if micros == 0:
        return base + "Z"
    if micros % 1000 == 0:
        return f"{base}.{micros // 1000:03d}Z"
    return f"{base}.{micros:06d}Z"


class WindowUseCases:
    """A tenant's maintenance windows."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        decoder: Decoder,
        references: References | None,
        changed: asyncio.Event,
    ) -> None:
        self.db = db
        self.clock = clock
        self.decoder = decoder
        self.references = references
        self.changed = changed

    async def _tenant_zone(self, session: AsyncSession, tenant_id: str) -> str:
        row = await get_settings(session, tenant_id=tenant_id)
        return "UTC" if row is None else zone_or_utc(row.time_zone)

    def _values(self, draft: WindowDraft, zone: str, base: dict[str, Any]) -> dict[str, Any]:
        """Validated column values of a window (``base`` holds the stored window's values)."""
        values = {**base, **draft.values}
        violations: list[Violation] = []
        if not draft.scheduled:
            violations.append(Violation("schedule", "one_off or recurring is required"))
        if not draft.values["name"]:
            violations.append(Violation("name", "must not be empty"))
        override = draft.end_override
        values["end_override_at"] = override
        values["ended_early_at"] = base.get("ended_early_at")
        values["extended_until"] = None
        if not violations:
            domain = window_of({"id": "w", **values}, draft.scope, zone)
            found = validate_window(domain)
            violations.extend(found)
            if not found and override is not None:
                natural = window_of(
                    {"id": "w", **values, "ended_early_at": None}, draft.scope, zone
                )
                end = natural.next_end_after(self.clock.now())
                if end is not None and override > end:
                    values["extended_until"] = override
                else:
                    values["ended_early_at"] = override
        if violations:
            raise invalid(violations, draft.path)
        return values

    def _compiled(self, record: WindowRecord, zone: str) -> CompiledWindow:
        # A stored window the tightened checks refuse still reads back (never in force).
        window = window_of_record(self.decoder, record, zone)
        return compile_stored_windows([window]).windows[0]

    def _view(self, record: WindowRecord, zone: str) -> WindowView:
        state, next_start, current_end = window_state(
            self._compiled(record, zone), self.clock.now()
        )
        return WindowView(record, state, next_start, current_end)

    def _changed(self, session: AsyncSession) -> None:
        after_commit(session, self.changed.set)

    async def create(
        self,
        *,
        tenant_id: str,
        draft: WindowDraft,
        creator: str,
        reply: IdempotentReply[WindowView, M],
    ) -> M:
        """Validate and store a maintenance window."""

        async def work(session: AsyncSession) -> WindowView:
            await check_window(self.references, tenant_id=tenant_id, scope=draft.scope)
            zone = await self._tenant_zone(session, tenant_id)
            values = self._values(draft, zone, {})
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await store.insert_window(
                session,
                {
                    **values,
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "creator": creator,
                    "rule_set_version": version,
                },
            )
            self._changed(session)
            return self._view(row, zone)

        return await once(self.db, requests, tenant_id, reply, work)

    async def get(self, *, tenant_id: str, window_id: str) -> WindowView:
        """One window of the tenant, with its current state."""
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_window(session, window_id=canonical_uuid(window_id, "window_id"))
            zone = await self._tenant_zone(session, tenant_id)
        if row is None:
            raise WindowNotFound(f"maintenance window {window_id} not found")
        return self._view(row, zone)

    async def page(
        self,
        *,
        tenant_id: str,
        size: int,
        page_token: str,
        states: Sequence[str],
        start: datetime | None,
        end: datetime | None,
    ) -> WindowPage:
        """Windows in the wanted states, by next start (active ones first by their end)."""
        wanted = set(states) or set(LISTED_BY_DEFAULT)
        limit = page_size(size)
        filters = {"states": sorted(wanted), "start": str(start), "end": str(end)}
        position = decode_page_token(page_token, filters=filters)
        async with self.db.transaction(tenant_id) as session:
            rows = await store.all_windows(session)
            zone = await self._tenant_zone(session, tenant_id)
        now = self.clock.now()
        items: list[tuple[str, str, WindowView]] = []
        for row in rows:
            compiled = self._compiled(row, zone)
            view = WindowView(row, *window_state(compiled, now))
            if view.state not in wanted:
                continue
            if start is not None and end is not None:
                next_end = compiled.next_end_after(start)
                if next_end is None or not _overlaps(compiled, start, end):
                    continue
            key = (
                sort_time(view.next_start)
                if view.next_start is not None
                else "0" + sort_time(view.current_end)
            )
            items.append((key, row.id, view))
        items.sort(key=lambda i: (i[0], i[1]))
        if position is not None:
            items = [i for i in items if (i[0], i[1]) > (position["k"], position["id"])]
        page, more = page_of(items, limit)
        token = ""
        if more:
            last = page[-1]
            token = encode_page_token({"k": last[0], "id": last[1]}, filters=filters)
        return WindowPage(windows=tuple(i[2] for i in page), next_page_token=token)

    async def update(
        self,
        *,
        tenant_id: str,
        window_id: str,
        given_etag: str,
        scope: WindowScope,
        paths: Collection[str],
        patch: Callable[[WindowRecord], WindowDraft],
        reply: IdempotentReply[WindowView, M],
    ) -> M:
        """Change a window by ``patch`` (the masked ``paths`` of the request, whose scope is
        ``scope``); extends or shortens it with an end override."""
        wid = canonical_uuid(window_id, "maintenance_window.id")

        async def work(session: AsyncSession) -> WindowView:
            await check_window(self.references, tenant_id=tenant_id, scope=scope, paths=paths)
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await store.get_window(session, window_id=wid, for_update=True)
            if row is None:
                raise WindowNotFound(f"maintenance window {window_id} not found")
            check_etag(given_etag, etag(row.version), _stale)
            zone = await self._tenant_zone(session, tenant_id)
            values = self._values(patch(row), zone, asdict(row))
            now = self.clock.now()
            values.update(version=row.version + 1, rule_set_version=version, updated_at=now)
            for key in ("id", "tenant_id", "creator", "created_at"):
                values.pop(key, None)
            updated = await store.update_window(session, window_id=wid, values=values)
            await store.recheck_held_by(session, window_id=wid, at=now)
            self._changed(session)
            return self._view(updated, zone)

        return await once(self.db, requests, tenant_id, reply, work)

    async def end(
        self,
        *,
        tenant_id: str,
        window_id: str,
        end_recurrence: bool,
        reply: IdempotentReply[WindowView, M],
    ) -> M:
        """End the current occurrence now (and, if asked, every later one)."""
        wid = canonical_uuid(window_id, "window_id")

        async def work(session: AsyncSession) -> WindowView:
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await store.get_window(session, window_id=wid, for_update=True)
            if row is None:
                raise WindowNotFound(f"maintenance window {window_id} not found")
            now = self.clock.now()
            values: dict[str, Any] = {
                "ended_early_at": now,
                "extended_until": None,
                "end_override_at": None,
                "version": row.version + 1,
                "rule_set_version": version,
                "updated_at": now,
            }
            if end_recurrence or row.rrule is None:
                values["cancelled_from"] = now
            updated = await store.update_window(session, window_id=wid, values=values)
            await store.recheck_held_by(session, window_id=wid, at=now)
            zone = await self._tenant_zone(session, tenant_id)
            self._changed(session)
            return self._view(updated, zone)

        return await once(self.db, requests, tenant_id, reply, work)

    async def delete(
        self, *, tenant_id: str, window_id: str, given_etag: str, reply: IdempotentReply[None, M]
    ) -> M:
        """Delete a window; series it held are re-evaluated at once."""
        wid = canonical_uuid(window_id, "window_id")

        async def work(session: AsyncSession) -> None:
            await bump_version(session, tenant_id=tenant_id)
            row = await store.get_window(session, window_id=wid, for_update=True)
            if row is None:
                raise WindowNotFound(f"maintenance window {window_id} not found")
            check_etag(given_etag, etag(row.version), _stale)
            await store.delete_window(session, window_id=wid)
            await store.recheck_held_by(session, window_id=wid, at=self.clock.now())
            self._changed(session)

        return await once(self.db, requests, tenant_id, reply, work)
