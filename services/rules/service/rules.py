"""Rules CRUD: create, read, list, update, delete and reorder a tenant's rules."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain import Rule
from services.rules.domain.drafts import RuleDraft
from services.rules.domain.records import RuleRecord, etag
from services.rules.domain.views import Reordered, RulePage
from services.rules.errors import (
    EtagMismatch,
    RuleNameTaken,
    RuleNotFound,
    RuleSetVersionMismatch,
)
from services.rules.models import requests
from services.rules.service.clock import Clock
from services.rules.service.common import canonical_uuid, invalid
from services.rules.service.references import check_rule
from services.rules.store import rules as store
from services.rules.store.settings import bump_version, rule_set_version
from triage.runtime import (
    Database,
    IdempotentReply,
    InvalidArgument,
    References,
    check_etag,
    decode_page_token,
    encode_page_token,
    new_id,
    once,
    page_of,
    page_size,
)

M = TypeVar("M", bound=Message)


def _stale() -> EtagMismatch:
    return EtagMismatch("the resource changed since it was read; read it again")


def _as_named(path: str) -> str:
    return path


class RuleUseCases:
    """A tenant's ordered rules; every change bumps the tenant's rule-set version."""

    def __init__(self, *, db: Database, clock: Clock, references: References | None) -> None:
        self.db = db
        self.clock = clock
        self.references = references

    async def create(
        self,
        *,
        tenant_id: str,
        draft: RuleDraft,
        position: int | None,
        reply: IdempotentReply[RuleRecord, M],
    ) -> M:
        """Validate and insert a rule at ``position`` (appended when None)."""
        if draft.violations:
            raise invalid(draft.violations, _as_named)
        if position is not None and position < 0:
            raise InvalidArgument.field("position", "must not be negative")

        async def work(session: AsyncSession) -> RuleRecord:
            # Checked only when not a replay, so a retry still gets its first answer.
            await check_rule(self.references, tenant_id=tenant_id, rule=draft.rule)
            _, version = await bump_version(session, tenant_id=tenant_id)
            name = draft.values["name"]
            if await store.rule_named(session, name=name):
                raise RuleNameTaken(f"a rule named {name!r} exists")
            count = await store.count_rules(session)
            at = count if position is None else min(position, count)
            await store.shift_positions(session, from_position=at, by=1)
            return await store.insert_rule(
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

    async def get(self, *, tenant_id: str, rule_id: str) -> RuleRecord:
        """One rule of the tenant."""
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_rule(session, rule_id=canonical_uuid(rule_id, "rule_id"))
        if row is None:
            raise RuleNotFound(f"rule {rule_id} not found")
        return row

    async def page(
        self, *, tenant_id: str, size: int, page_token: str, show_disabled: bool
    ) -> RulePage:
        """One page of the tenant's rules in evaluation order."""
        limit = page_size(size)
        filters = {"show_disabled": show_disabled}
        position = decode_page_token(page_token, filters=filters)
        after = None if position is None else (int(position["p"]), str(position["id"]))
        async with self.db.transaction(tenant_id) as session:
            rows = await store.list_rules(
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
        named: Rule,
        paths: Collection[str],
        patch: Callable[[RuleRecord], RuleDraft],
        reply: IdempotentReply[RuleRecord, M],
    ) -> M:
        """Change a rule by ``patch`` (the masked ``paths`` of the request, which names
        ``named``'s integrations and channels), checking its etag."""
        rid = canonical_uuid(rule_id, "rule.id")

        async def work(session: AsyncSession) -> RuleRecord:
            await check_rule(self.references, tenant_id=tenant_id, rule=named, paths=paths)
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await store.get_rule(session, rule_id=rid, for_update=True)
            if row is None:
                raise RuleNotFound(f"rule {rule_id} not found")
            check_etag(given_etag, etag(row.version), _stale)
            draft = patch(row)
            if draft.violations:
                raise invalid(draft.violations, _as_named)
            name = draft.values["name"]
            if name != row.name:
                other = await store.rule_named(session, name=name)
                if other is not None and other != rid:
                    raise RuleNameTaken(f"a rule named {name!r} exists")
            return await store.update_rule(
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
        rid = canonical_uuid(rule_id, "rule_id")

        async def work(session: AsyncSession) -> int:
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await store.get_rule(session, rule_id=rid, for_update=True)
            if row is None:
                raise RuleNotFound(f"rule {rule_id} not found")
            check_etag(given_etag, etag(row.version), _stale)
            await store.delete_rule(session, rule_id=rid)
            await store.shift_positions(session, from_position=row.position + 1, by=-1)
            return version

        return await once(self.db, requests, tenant_id, reply, work)

    async def reorder(
        self,
        *,
        tenant_id: str,
        rule_ids: Sequence[str],
        expected_version: int,
        reply: IdempotentReply[Reordered, M],
    ) -> M:
        """Set the complete evaluation order."""

        async def work(session: AsyncSession) -> Reordered:
            before, version = await bump_version(session, tenant_id=tenant_id)
            if expected_version and expected_version != before:
                raise RuleSetVersionMismatch(
                    f"rule set is at version {before}, not {expected_version}"
                )
            rows = await store.all_rules(session)
            current = {r.id for r in rows}
            if len(rule_ids) != len(set(rule_ids)) or set(rule_ids) != current:
                raise InvalidArgument.field(
                    "rule_ids", "must list every rule of the tenant exactly once"
                )
            await store.shift_positions(session, from_position=0, by=len(rows))
            now = self.clock.now()
            before_rows = {r.id: r for r in rows}
            updated = []
            for index, rid in enumerate(rule_ids):
                row = before_rows[rid]
                values: dict[str, Any] = {"position": index}
                if row.position != index:
                    values.update(version=row.version + 1, rule_set_version=version, updated_at=now)
                updated.append(await store.update_rule(session, rule_id=rid, values=values))
            return Reordered(rules=tuple(updated), rule_set_version=version)

        return await once(self.db, requests, tenant_id, reply, work)
