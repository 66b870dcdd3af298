"""Correlation rules CRUD: create, read, list, update, delete and reorder a tenant's
correlation rules. Every change bumps the tenant's rule-set version, so routing replicas
recompile and ``alert.routed`` says which version correlated it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain.correlation import CorrelationDraft
from services.rules.domain.records import CorrelationRuleRecord, etag
from services.rules.errors import (
    CorrelationRuleNameTaken,
    CorrelationRuleNotFound,
    EtagMismatch,
    RuleSetVersionMismatch,
)
from services.rules.models import requests
from services.rules.service.clock import Clock
from services.rules.service.common import canonical_uuid, invalid
from services.rules.store import correlation as store
from services.rules.store.settings import bump_version, rule_set_version
from triage.runtime import (
    Database,
    IdempotentReply,
    InvalidArgument,
    check_etag,
    decode_page_token,
    encode_page_token,
    new_id,
    once,
    page_of,
    page_size,
)

M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class CorrelationPage:
    """One page of correlation rules, the rule-set version, the next page's token."""

    rules: tuple[CorrelationRuleRecord, ...]
    rule_set_version: int
    next_page_token: str


@dataclass(frozen=True, slots=True)
class CorrelationReordered:
    """Correlation rules in their new order and the rule-set version after the reorder."""

    rules: tuple[CorrelationRuleRecord, ...]
    rule_set_version: int


def _stale() -> EtagMismatch:
    return EtagMismatch("the resource changed since it was read; read it again")


def _as_named(path: str) -> str:
    return path


def _not_found(rule_id: str) -> CorrelationRuleNotFound:
    return CorrelationRuleNotFound(f"correlation rule {rule_id} not found")


class CorrelationUseCases:
    """A tenant's ordered correlation rules."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create(
        self,
        *,
        tenant_id: str,
        draft: CorrelationDraft,
        position: int | None,
        reply: IdempotentReply[CorrelationRuleRecord, M],
    ) -> M:
        """Validate and insert a rule at ``position`` (appended when None)."""
        if draft.violations:
            raise invalid(draft.violations, _as_named)

        async def work(session: AsyncSession) -> CorrelationRuleRecord:
            _, version = await bump_version(session, tenant_id=tenant_id)
            name = str(draft.values["name"])
            if await store.correlation_rule_named(session, name=name):
                raise CorrelationRuleNameTaken(f"a correlation rule named {name!r} exists")
            count = await store.count_correlation_rules(session)
            at = count if position is None else min(position, count)
            await store.shift_positions(session, from_position=at, by=1)
            return await store.insert_correlation_rule(
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

    async def get(self, *, tenant_id: str, rule_id: str) -> CorrelationRuleRecord:
        """One correlation rule of the tenant."""
        rid = canonical_uuid(rule_id, "correlation_rule_id")
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_correlation_rule(session, rule_id=rid)
        if row is None:
            raise _not_found(rule_id)
        return row

    async def page(
        self, *, tenant_id: str, size: int, page_token: str, show_disabled: bool
    ) -> CorrelationPage:
        """One page of the tenant's correlation rules in evaluation order."""
        limit = page_size(size)
        filters = {"show_disabled": show_disabled, "of": "correlation"}
        position = decode_page_token(page_token, filters=filters)
        after = None if position is None else (int(position["p"]), str(position["id"]))
        async with self.db.transaction(tenant_id) as session:
            rows = await store.list_correlation_rules(
                session, after=after, limit=limit + 1, show_disabled=show_disabled
            )
            version = await rule_set_version(session, tenant_id=tenant_id)
        page, more = page_of(rows, limit)
        token = ""
        if more:
            last = page[-1]
            token = encode_page_token({"p": last.position, "id": last.id}, filters=filters)
        return CorrelationPage(rules=tuple(page), rule_set_version=version, next_page_token=token)

    async def update(
        self,
        *,
        tenant_id: str,
        rule_id: str,
        given_etag: str,
        patch: Callable[[CorrelationRuleRecord], CorrelationDraft],
        reply: IdempotentReply[CorrelationRuleRecord, M],
    ) -> M:
        """Change a rule by ``patch`` (the masked fields of the request), checking its etag."""
        rid = canonical_uuid(rule_id, "correlation_rule.id")

        async def work(session: AsyncSession) -> CorrelationRuleRecord:
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await store.get_correlation_rule(session, rule_id=rid, for_update=True)
            if row is None:
                raise _not_found(rule_id)
            check_etag(given_etag, etag(row.version), _stale)
            draft = patch(row)
            if draft.violations:
                raise invalid(draft.violations, _as_named)
            name = str(draft.values["name"])
            if name != row.name:
                other = await store.correlation_rule_named(session, name=name)
                if other is not None and other != rid:
                    raise CorrelationRuleNameTaken(f"a correlation rule named {name!r} exists")
            return await store.update_correlation_rule(
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
        rid = canonical_uuid(rule_id, "correlation_rule_id")

        async def work(session: AsyncSession) -> int:
            _, version = await bump_version(session, tenant_id=tenant_id)
            row = await store.get_correlation_rule(session, rule_id=rid, for_update=True)
            if row is None:
                raise _not_found(rule_id)
            check_etag(given_etag, etag(row.version), _stale)
            await store.delete_correlation_rule(session, rule_id=rid)
            await store.shift_positions(session, from_position=row.position + 1, by=-1)
            return version

        return await once(self.db, requests, tenant_id, reply, work)

    async def reorder(
        self,
        *,
        tenant_id: str,
        rule_ids: Sequence[str],
        expected_version: int,
        reply: IdempotentReply[CorrelationReordered, M],
    ) -> M:
        """Set the complete evaluation order."""

        async def work(session: AsyncSession) -> CorrelationReordered:
            before, version = await bump_version(session, tenant_id=tenant_id)
            if expected_version and expected_version != before:
                raise RuleSetVersionMismatch(
                    f"rule set is at version {before}, not {expected_version}"
                )
            rows = await store.all_correlation_rules(session)
            current = {r.id for r in rows}
            if len(rule_ids) != len(set(rule_ids)) or set(rule_ids) != current:
                raise InvalidArgument.field(
                    "correlation_rule_ids",
                    "must list every correlation rule of the tenant exactly once",
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
                updated.append(
                    await store.update_correlation_rule(session, rule_id=rid, values=values)
                )
            return CorrelationReordered(rules=tuple(updated), rule_set_version=version)

        return await once(self.db, requests, tenant_id, reply, work)
