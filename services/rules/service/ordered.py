"""CRUD of a tenant's ordered rules, shared by routing rules and correlation rules: create at
a position, read, list in evaluation order, update and delete by etag, reorder. Every change
bumps the tenant's rule-set version (routing replicas recompile), and every write answers
a retried ``request_id`` with its first answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.drafts import OrderedDraft
from services.rules.domain.records import OrderedRecord, etag
from services.rules.domain.views import Reordered, RulePage
from services.rules.errors import EtagMismatch, RuleSetVersionMismatch
from services.rules.service.clock import Clock
from services.rules.service.common import canonical_uuid, invalid
from services.rules.store.ordered import OrderedRows
from services.rules.store.requests import requests
from services.rules.store.settings import bump_version, rule_set_version
from triage.runtime import (
    AlreadyExists,
    Database,
    IdempotentReply,
    InvalidArgument,
    NotFound,
    check_etag,
    decode_page_token,
    encode_page_token,
    new_id,
    once,
    page_of,
    page_size,
)

R = TypeVar("R", bound=OrderedRecord)
D = TypeVar("D", bound=OrderedDraft)
M = TypeVar("M", bound=Message)
#: A check a write makes first in its transaction, only when it is not a replay.
Check = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RuleKind(Generic[R]):
    """One kind of ordered rule: its rows, its errors, and how requests name it."""

    rows: OrderedRows[R]
    #: The request field of one rule ("rule", "correlation_rule"): its id is ``<field>_id``
    #: by itself and ``<field>.id`` inside the rule, a reorder lists ``<field>_ids``.
    field: str
    name_taken: type[AlreadyExists]
    not_found: type[NotFound]
    #: What binds a page token to this kind, beside the list's own filters.
    token_filters: Mapping[str, object]

    @property
    def noun(self) -> str:
        """The kind in messages: "rule", "correlation rule"."""
        return self.field.replace("_", " ")


def _stale() -> EtagMismatch:
    return EtagMismatch("the resource changed since it was read; read it again")


def _as_named(path: str) -> str:
    return path


class OrderedRules(Generic[R, D]):
    """A tenant's ordered rules of one ``kind``."""

    def __init__(self, *, db: Database, clock: Clock, kind: RuleKind[R]) -> None:
        self.db = db
        self.clock = clock
        self.kind = kind

    def _not_found(self, rule_id: str) -> NotFound:
        return self.kind.not_found(f"{self.kind.noun} {rule_id} not found")

    def _name_taken(self, name: str) -> AlreadyExists:
        return self.kind.name_taken(f"a {self.kind.noun} named {name!r} exists")

    async def create(
        self,
        *,
        tenant_id: str,
        draft: D,
        position: int | None,
        reply: IdempotentReply[R, M],
        check: Check | None = None,
    ) -> M:
        """Validate and insert a rule at ``position`` (appended when None)."""
        if draft.violations:
            raise invalid(draft.violations, _as_named)
        if position is not None and position < 0:
            raise InvalidArgument.field("position", "must not be negative")
        rows = self.kind.rows

        async def work(session: AsyncSession) -> R:
            if check is not None:
                await check()
            _, version = await bump_version(session, tenant_id=tenant_id)
            name = str(draft.values["name"])
            if await rows.named(session, name=name):
                raise self._name_taken(name)
            count = await rows.count(session)
            at = count if position is None else min(position, count)
            await rows.shift_positions(session, from_position=at, by=1)
            return await rows.insert(
                session,
                {
                    **draft.values,
                    "id": new_id(),
                    "tenant_id": tenant_id,
                    "position": at,
                    "rule_set_version": version,
                },
            )

        return await once(self.db, requests, tenant_id, reply, work)

    async def get(self, *, tenant_id: str, rule_id: str) -> R:
        """One rule of the tenant."""
        rid = canonical_uuid(rule_id, f"{self.kind.field}_id")
        async with self.db.transaction(tenant_id) as session:
            row = await self.kind.rows.get(session, rule_id=rid)
        if row is None:
            raise self._not_found(rule_id)
        return row

    async def page(
        self, *, tenant_id: str, size: int, page_token: str, show_disabled: bool
    ) -> RulePage[R]:
        """One page of the tenant's rules in evaluation order."""
        limit = page_size(size)
        filters = {"show_disabled": show_disabled, **self.kind.token_filters}
        position = decode_page_token(page_token, filters=filters)
        after = None if position is None else (int(position["p"]), str(position["id"]))
        async with self.db.transaction(tenant_id) as session:
            rows = await self.kind.rows.page(
                session, after=after, limit=limit + 1, show_disabled=show_disabled
            )
            version = await rule_set_version(session, tenant_id=tenant_id)
        page, more = page_of(rows, limit)
        token = ""
        if more:
            last = page[-1]
            token = encode_page_token({"p": last.position, "id": last.id}, filters=filters)
        return RulePage(rules=tuple(page), rule_set_version=version, next_page_token=token)

    async def update(
        self,
        *,
        tenant_id: str,
        rule_id: str,
        given_etag: str,
        patch: Callable[[R], D],
        reply: IdempotentReply[R, M],
        check: Check | None = None,
    ) -> M:
        """Change a rule by ``patch`` (the masked fields of the request), checking its etag."""
        rid = canonical_uuid(rule_id, f"{self.kind.field}.id")
        rows = self.kind.rows

        async def work(session: AsyncSession) -> R:
            if check is not None:
                await check()
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await rows.get(session, rule_id=rid, for_update=True)
            if row is None:
                raise self._not_found(rule_id)
            check_etag(given_etag, etag(row.version), _stale)
            draft = patch(row)
            if draft.violations:
                raise invalid(draft.violations, _as_named)
            name = str(draft.values["name"])
            if name != row.name:
                other = await rows.named(session, name=name)
                if other is not None and other != rid:
                    raise self._name_taken(name)
            return await rows.update(
                session,
                rule_id=rid,
                values={
                    **draft.values,
                    "version": row.version + 1,
                    "rule_set_version": version,
                    "updated_at": self.clock.now(),
                },
            )

        return await once(self.db, requests, tenant_id, reply, work)

    async def delete(
        self, *, tenant_id: str, rule_id: str, given_etag: str, reply: IdempotentReply[int, M]
    ) -> M:
        """Delete a rule (later rules move up); answers with the new rule-set version."""
        rid = canonical_uuid(rule_id, f"{self.kind.field}_id")
        rows = self.kind.rows

        async def work(session: AsyncSession) -> int:
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await rows.get(session, rule_id=rid, for_update=True)
            if row is None:
                raise self._not_found(rule_id)
            check_etag(given_etag, etag(row.version), _stale)
            await rows.delete(session, rule_id=rid)
            await rows.shift_positions(session, from_position=row.position + 1, by=-1)
            return version

        return await once(self.db, requests, tenant_id, reply, work)

    async def reorder(
        self,
        *,
        tenant_id: str,
        rule_ids: Sequence[str],
        expected_version: int,
        reply: IdempotentReply[Reordered[R], M],
    ) -> M:
        """Set the complete evaluation order."""
        rows = self.kind.rows

        async def work(session: AsyncSession) -> Reordered[R]:
            before, version = await bump_version(session, tenant_id=tenant_id)
            if expected_version and expected_version != before:
                raise RuleSetVersionMismatch(
                    f"rule set is at version {before}, not {expected_version}"
                )
            current = await rows.all(session)
            if len(rule_ids) != len(set(rule_ids)) or set(rule_ids) != {r.id for r in current}:
                raise InvalidArgument.field(
                    f"{self.kind.field}_ids",
                    f"must list every {self.kind.noun} of the tenant exactly once",
                )
            await rows.shift_positions(session, from_position=0, by=len(current))
            now = self.clock.now()
            by_id = {r.id: r for r in current}
            updated = []
            for index, rid in enumerate(rule_ids):
                row = by_id[rid]
                values: dict[str, Any] = {"position": index}
                if row.position != index:
                    values.update(version=row.version + 1, rule_set_version=version, updated_at=now)
                updated.append(await rows.update(session, rule_id=rid, values=values))
            return Reordered(rules=tuple(updated), rule_set_version=version)

        return await once(self.db, requests, tenant_id, reply, work)
